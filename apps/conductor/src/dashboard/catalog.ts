/**
 * Everything the study view shows, read from the records the conductor and workers write (never
 * from BullMQ's keys) and shaped into the JSON the page and docs/dashboard.md describe (views.ts).
 * This class keeps the snapshots; the parts that build each answer live beside it: the list
 * (study-list.ts), one study (study-detail.ts), instances and failures (instance-views.ts),
 * workers and allocations (worker-views.ts), and the study's expansion (study-model.ts).
 *
 * Costs stay flat at 100,000 instances: the packed state (40 bytes an instance) is read again
 * only when the study hash says it changed (its cursor, counts or state moved), aggregated in one
 * pass, and shared by every request and stream until the next change; lists are paged.
 * Instance names, workspaces and the step DAG come from expanding the study again from its folder
 * (meta/study.json), once per study; without the folder the view shows what the hash has.
 */
import { DEFAULT_QUEUE } from '@maestro/protocol';
import type { Logger } from 'pino';
import { finalCount, summarizeStates } from './aggregate.js';
import { readConductorView, withConductor } from './conductor.js';
import type { GraphLayout } from './graph-layout.js';
import { byParamView, type ByParamView } from './param-view.js';
import { failurePage, instancePage, type InstanceQuery, type JobLookup } from './instance-views.js';
import { studyDetail, stepGraph } from './study-detail.js';
import { StudyRates } from './study-list.js';
import { MAX_MODELS, StudyModels, type Snapshot } from './study-model.js';
import type { StudySource } from './study-source.js';
import type { StudySources } from './study-sources.js';
import type {
  AllocationView,
  FailureView,
  InstanceView,
  Page,
  StepDetail,
  StudyDetail,
  StudyListItem,
  WorkerView,
} from './views.js';
import { workerViews } from './worker-views.js';

export interface CatalogOptions {
  /** Redis, or the study folder when Redis is gone. */
  readonly sources: StudySources;
  /** Where bull-board is mounted, e.g. `/queues`. */
  readonly boardPath: string;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * A changed study whose last read took SLOW_LOAD_MS or more (millions of instances) is read again
 * once RELOAD_AFTER_LOADS times that has passed: one of ten million, seconds to read, every half
 * minute or so. Smaller studies are read again at every change, as the page expects.
 */
const SLOW_LOAD_MS = 1000;
const RELOAD_AFTER_LOADS = 10;

interface SnapshotEntry {
  readonly version: string;
  readonly source: StudySource;
  readonly loading: Promise<Snapshot>;
  /** When the read started (epoch ms), and how long reading the state took once it is done. */
  readonly loadedAt: number;
  readonly timing: { loadMs?: number };
}

export class StudyCatalog {
  readonly #o: CatalogOptions;
  readonly #now: () => number;
  readonly #models: StudyModels;
  readonly #snapshots = new Map<string, SnapshotEntry>();
  readonly #rates = new StudyRates();

  constructor(options: CatalogOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#models = new StudyModels(options.log, this.#now);
  }

  async listStudies(offset: number, limit: number): Promise<Page<StudyListItem>> {
    return this.#o.sources.forList(async (source) => {
      const [total, ids] = await Promise.all([source.countStudies(), source.listStudies(offset, limit)]);
      const records = await source.readRecords(ids);
      const now = this.#now();
      const items = records.map((r) => this.#rates.listItem(r, now, finalCount));
      return { total, offset, limit, items };
    });
  }

  /** Queue names the listed studies use (for bull-board), while there is a Redis. */
  async studyQueues(limit = 1000): Promise<Set<string>> {
    const out = new Set<string>([DEFAULT_QUEUE]);
    const redis = this.#o.sources.redis;
    if (!redis) return out;
    const records = await redis.readRecords(await redis.listStudies(0, limit));
    for (const r of records) for (const q of r.queues) out.add(q);
    return out;
  }

  /** The study's summary and its steps with counts (the `summary` event of its stream). */
  async study(id: string): Promise<StudyDetail> {
    const snap = await this.#snapshot(id);
    const now = this.#now();
    const item = this.#rates.listItem({ ...snap.record, counts: snap.summary.counts }, now, () => snap.summary.final);
    const source = { kind: snap.source.kind, note: snap.source.kind === 'folder' ? this.#o.sources.folderNote : null };
    const conductor = await readConductorView(snap.source, snap.record, now);
    return withConductor(studyDetail(snap, item, now, source), conductor);
  }

  /** The step DAG laid out by dagre, with each step's counts. */
  async graph(id: string): Promise<GraphLayout & { steps: StepDetail[] }> {
    return stepGraph(await this.#snapshot(id));
  }

  /** A page of instances, optionally of one spec step and some states. */
  async instances(id: string, q: InstanceQuery): Promise<Page<InstanceView>> {
    const snap = await this.#snapshot(id);
    return instancePage(snap, q, this.#jobsOf(snap));
  }

  /** Failed and timed-out instances with the last lines of their standard error. */
  async failures(id: string, q: { offset: number; limit: number; tailLines: number }): Promise<Page<FailureView>> {
    const snap = await this.#snapshot(id);
    return failurePage(snap, q, this.#jobsOf(snap));
  }

  /** Failures by parameter value: the values that stand out, and counts per value. */
  async byParam(id: string): Promise<ByParamView> {
    return byParamView(await this.#snapshot(id));
  }

  /** Workers that ran or can run the study's steps, and the allocations they live in. */
  async workers(id: string): Promise<{ now: number; workers: WorkerView[]; allocations: AllocationView[] }> {
    const snap = await this.#snapshot(id);
    return workerViews(snap, snap.source, this.#now());
  }

  #jobsOf(snap: Snapshot): JobLookup {
    return { jobStates: (jobs) => snap.source.jobStates(jobs), boardPath: this.#o.boardPath };
  }

  /**
   * The study's state, read again only if its source says something changed, and not again
   * before RELOAD_AFTER_LOADS times what the last read took: a running study changes at every
   * commit, and reading ten million instances takes seconds.
   */
  async #snapshot(id: string): Promise<Snapshot> {
    const { source, version } = await this.#o.sources.forStudy(id);
    const cached = this.#snapshots.get(id);
    if (cached?.version === version) return cached.loading; // loaded, or being loaded by another request
    const now = this.#now();
    if (
      cached?.source === source &&
      cached.timing.loadMs !== undefined &&
      cached.timing.loadMs >= SLOW_LOAD_MS &&
      now - cached.loadedAt < cached.timing.loadMs * RELOAD_AFTER_LOADS
    )
      return cached.loading;
    const timing: { loadMs?: number } = {};
    const loading = this.#load(source, id, version, (ms) => (timing.loadMs = ms));
    const entry: SnapshotEntry = { version, source, loading, loadedAt: now, timing };
    this.#snapshots.delete(id); // re-inserted last: the map's order is least recently loaded first
    this.#snapshots.set(id, entry);
    if (this.#snapshots.size > MAX_MODELS) {
      // Each snapshot holds 40 bytes per instance: keep only the studies looked at lately.
      const oldest = this.#snapshots.keys().next().value;
      if (oldest !== undefined) this.#snapshots.delete(oldest);
    }
    loading.catch(() => {
      if (this.#snapshots.get(id) === entry) this.#snapshots.delete(id);
    });
    return loading;
  }

  /** Reads the study; `timed` is told how long its state took (the expansion, done once, apart). */
  async #load(source: StudySource, id: string, version: string, timed: (ms: number) => void): Promise<Snapshot> {
    const [record] = await source.readRecords([id]);
    const model = await this.#models.get(record!);
    const t0 = this.#now();
    const bytes = await source.readState(id, record!.instanceCount);
    const summary = summarizeStates(bytes, model.ranges);
    timed(this.#now() - t0);
    return { source, version, record: record!, bytes, summary, model };
  }
}
