/**
 * What the study view knows of a study beyond its state records: instance names, workspaces and
 * the step DAG, from expanding the study again from its folder (meta/study.json and the spec
 * copy), once per study. Without the folder, the steps and their sizes come from the study record
 * and the view says why it has no more.
 */
import path from 'node:path';
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import { readStudyMeta, reloadStudy } from '../study/index.js';
import type { StateSummary, StepRange } from './aggregate.js';
import type { GraphLayout } from './graph-layout.js';
import type { StudyRecord } from './records.js';
import type { StudySource } from './study-source.js';

export interface Model {
  readonly ranges: StepRange[];
  readonly expanded: ExpandedStudy | undefined;
  readonly problem: string | undefined;
  readonly parents: { parents: number[]; funnelParents: number[] }[];
  readonly loadedMs: number;
  graph?: GraphLayout;
}

/** A study's state at one version, with everything computed from it; shared by every request. */
export interface Snapshot {
  /** Where it was read: every later read for it (workers, jobs) goes there too. */
  readonly source: StudySource;
  readonly version: string;
  readonly record: StudyRecord;
  readonly bytes: Uint8Array;
  readonly summary: StateSummary;
  readonly model: Model;
}

/** How long a study whose folder could not be read waits before the next try. */
const MODEL_RETRY_MS = 30_000;
/** Studies whose expansion stays in memory. */
export const MAX_MODELS = 32;

/** The expansions of the studies looked at lately, each built once (or again after a failure). */
export class StudyModels {
  readonly #models = new Map<string, Promise<Model>>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  get(r: StudyRecord): Promise<Model> {
    const cached = this.#models.get(r.id);
    if (cached) {
      return cached.then((m) => {
        if (m.expanded || this.now() - m.loadedMs < MODEL_RETRY_MS) return m;
        this.#models.delete(r.id);
        return this.get(r);
      });
    }
    const loading = this.#build(r);
    this.#models.set(r.id, loading);
    if (this.#models.size > MAX_MODELS) {
      const oldest = this.#models.keys().next().value;
      if (oldest !== undefined && oldest !== r.id) this.#models.delete(oldest);
    }
    return loading;
  }

  async #build(r: StudyRecord): Promise<Model> {
    const loadedMs = this.now();
    let first = 0;
    const fromHash: StepRange[] = r.steps.map((s) => {
      const range = { name: s.name, firstInstance: first, instanceCount: s.instances };
      first += s.instances;
      return range;
    });
    const noEdges = fromHash.map(() => ({ parents: [], funnelParents: [] }));
    const without = (problem: string): Model => ({
      ranges: fromHash,
      expanded: undefined,
      problem,
      parents: noEdges,
      loadedMs,
    });
    if (!r.root) return without('the study record names no folder');
    try {
      const meta = await readStudyMeta(r.root);
      if (meta.id !== r.id) return without(`${r.root} now holds another study (${meta.id})`);
      const { expanded } = await reloadStudy(meta);
      if (expanded.instanceCount !== r.instanceCount) {
        return without(`the spec copy in ${r.root} now expands to ${expanded.instanceCount} instances`);
      }
      return {
        ranges: expanded.steps.map((s) => ({
          name: s.name,
          firstInstance: s.firstInstance,
          instanceCount: s.instanceCount,
        })),
        expanded,
        problem: undefined,
        parents: expanded.steps.map((s) => ({ parents: [...s.parents], funnelParents: [...s.funnelParents] })),
        loadedMs,
      };
    } catch (err) {
      this.log.warn({ studyId: r.id, root: r.root, err: (err as Error).message }, 'cannot expand the study');
      return without(`cannot read the study folder ${path.basename(r.root)} here: ${(err as Error).message}`);
    }
  }
}
