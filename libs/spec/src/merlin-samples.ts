/**
 * Merlin's `merlin.samples` block: which steps run once per sample, and what a sample step's
 * instance knows about its sample. Merlin expands a step over the samples when its `cmd` or
 * `restart` holds a column label token or `$(MERLIN_SAMPLE_ID)` / `$(MERLIN_SAMPLE_PATH)`
 * (merlin/utils.py `needs_merlin_expansion`); other steps run once per parameter combination.
 */
import { DEFAULT_LEVEL_MAX_DIRS, type SampleFolders } from './sample-folders.js';
import type { SampleTable } from './sample-table.js';
import type { Study } from './study.js';
import { tokenNames } from './tokens.js';

/** The tokens that make a step a sample step besides the column labels (lower case too, as in Merlin). */
const SAMPLE_KEYWORDS = ['MERLIN_SAMPLE_ID', 'MERLIN_SAMPLE_PATH', 'merlin_sample_id', 'merlin_sample_path'];

/** `merlin.samples` as the study wrote it, with Merlin's defaults. */
export interface SampleSettings {
  /** `column_labels`: one token per column of the samples file. */
  readonly labels: readonly string[];
  /** `level_max_dirs`. @default 25 */
  readonly levelMaxDirs: number;
  /** `file`, tokens not yet substituted. */
  readonly file: string | undefined;
  /** `generate.cmd`, tokens not yet substituted. */
  readonly generateCmd: string | undefined;
}

/** The study's `merlin.samples` block, or undefined when it has none. */
export function sampleSettings(study: Pick<Study, 'merlin'>): SampleSettings | undefined {
  const block = study.merlin?.['samples'];
  if (block === null || typeof block !== 'object') return undefined;
  const s = block as Record<string, unknown>;
  const generate = s['generate'];
  const cmd =
    generate !== null && typeof generate === 'object' ? (generate as Record<string, unknown>)['cmd'] : undefined;
  const labels = Array.isArray(s['column_labels']) ? s['column_labels'].map(String) : [];
  return {
    labels,
    levelMaxDirs: typeof s['level_max_dirs'] === 'number' ? s['level_max_dirs'] : DEFAULT_LEVEL_MAX_DIRS,
    file: typeof s['file'] === 'string' ? s['file'] : undefined,
    generateCmd: typeof cmd === 'string' ? cmd : undefined,
  };
}

/** Whether a step with this `cmd` and `restart` runs once per sample. */
export function usesSamples(cmd: string, restart: string | undefined, labels: readonly string[]): boolean {
  const names = new Set([...labels, ...SAMPLE_KEYWORDS]);
  return [...tokenNames(cmd), ...tokenNames(restart ?? '')].some((n) => names.has(n));
}

/** A study's samples as expansion and rendering use them. @internal */
export interface StudySamples {
  readonly labels: readonly string[];
  readonly table: SampleTable;
  readonly folders: SampleFolders;
}
