/**
 * The tokens Merlin defines for every study (merlin/spec/expansion.py `PROVENANCE_REPLACE`,
 * merlin/study/study.py `special_vars`): the study's workspace and info folder, its timestamp,
 * the provenance copies of the spec, and the return codes of merlin/common/enums.py
 * `ReturnCode`. The sample tokens (`MERLIN_SAMPLE_ID`, `MERLIN_SAMPLE_PATH`,
 * `MERLIN_GLOB_PATH`, `MERLIN_PATHS_ALL`) depend on the step: expanded-study.ts renders them.
 */
import path from 'node:path';
import { MERLIN_RETURN_CODES } from './merlin-return-codes.js';

/** The folder of the study root that Merlin calls `merlin_info`: samples, provenance specs. */
export const MERLIN_INFO_DIR = 'merlin_info';

/** Merlin's provenance copies of the spec in merlin_info/, for a spec file named `<base>.yaml`. */
export interface MerlinProvenanceFiles {
  /** The spec as written: `<base>.orig.yaml` (`$(MERLIN_SPEC_ORIGINAL_TEMPLATE)`). */
  readonly original: string;
  /** The spec with its variables resolved, as run: `<base>.partial.yaml` (`$(MERLIN_SPEC_EXECUTED_RUN)`). */
  readonly executed: string;
  /** The spec with every study-wide token substituted: `<base>.expanded.yaml` (`$(MERLIN_SPEC_ARCHIVED_COPY)`). */
  readonly archived: string;
}

/**
 * As `MerlinStudy._set_special_file_vars`: the spec file's stem, without the `.out`, `.partial`
 * or `.expanded` a provenance copy carries, so that running a copy again keeps the names.
 */
export function merlinProvenanceFiles(root: string, specFile: string): MerlinProvenanceFiles {
  const info = path.join(root, MERLIN_INFO_DIR);
  const shortened = path.basename(specFile).replace('.out', '').replace('.partial', '').replace('.expanded', '');
  const ext = path.extname(shortened);
  const base = ext ? shortened.slice(0, -ext.length) : shortened;
  return {
    original: path.join(info, `${base}.orig.yaml`),
    executed: path.join(info, `${base}.partial.yaml`),
    archived: path.join(info, `${base}.expanded.yaml`),
  };
}

/** Where and when a study runs, for the study-wide Merlin tokens. */
export interface MerlinPlaces {
  /** The study root: `$(MERLIN_WORKSPACE)`. */
  readonly root: string;
  /** `YYYYMMDD-HHMMSS` of the study's start: `$(MERLIN_TIMESTAMP)`. */
  readonly timestamp: string;
  /** The spec file's name (only its base name counts). */
  readonly specFile: string;
}

/** Every study-wide Merlin token and its text. */
export function merlinStudyTokens(places: MerlinPlaces): Map<string, string> {
  const files = merlinProvenanceFiles(places.root, places.specFile);
  const tokens = new Map<string, string>([
    ['MERLIN_WORKSPACE', places.root],
    ['MERLIN_INFO', path.join(places.root, MERLIN_INFO_DIR)],
    ['MERLIN_TIMESTAMP', places.timestamp],
    ['MERLIN_SPEC_ORIGINAL_TEMPLATE', files.original],
    ['MERLIN_SPEC_EXECUTED_RUN', files.executed],
    ['MERLIN_SPEC_ARCHIVED_COPY', files.archived],
  ]);
  for (const [name, code] of Object.entries(MERLIN_RETURN_CODES)) tokens.set(name, String(code));
  return tokens;
}
