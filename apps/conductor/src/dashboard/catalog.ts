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
import type { JobPresence } from '../queue/index.js';
import type { StudyReader } from '../redis/index.js';
import { finalCount, summarizeStates } from './aggregate.js';
import type { GraphLayout } from './graph-layout.js';
import { failurePage, instancePage, type InstanceQuery, type JobLookup } from './instance-views.js';
import { parseStudyRecord } from './records.js';
import { studyDetail, stepGraph } from './study-detail.js';
import { StudyRates } from './study-list.js';
import { MAX_MODELS, StudyModels, type Snapshot } from './study-model.js';
import {
  NotFoundError,
  type AllocationView,
  type FailureView,
  type InstanceView,
  type Page,
  type StepDetail,
  type StudyDetail,
  type StudyListItem,
  type WorkerView,
} from './views.js';
import { workerViews } from './worker-views.js';

export interface CatalogOptions {
  readonly reader: StudyReader;
  /** BullMQ's state of step jobs, for links into bull-board. */
  readonly jobStates: (jobs: readonly { queue: string; id: string }[]) => Promise<JobPresence[]>;
  /** Where bull-board is mounted, e.g. `/queues`. */
  readonly boardPath: string;
  readonly log: Logger;
  readonly now?: () => number;
}

export class StudyCatalog {
  readonly #o: CatalogOptions;
  readonly #now: () => number;
  readonly #models: StudyModels;
  readonly #snapshots = new Map<string, { version: string; loading: Promise<Snapshot> }>();
  readonly #rates = new StudyRates();
  readonly #jobs: JobLookup;

  constructor(options: CatalogOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#models = new StudyModels(options.log, this.#now);
    this.#jobs = { jobStates: options.jobStates, boardPath: options.boardPath };
  }

  async listStudies(offset: number, limit: number): Promise<Page<StudyListItem>> {
    const reader = this.#o.reader;
    const [total, ids] = await Promise.all([reader.countStudies(), reader.listStudies(offset, limit)]);
    const hashes = await reader.readRecords(ids.map((s) => s.id));
    const now = this.#now();
    const items = ids.map((s, k) => this.#rates.listItem(parseStudyRecord(s.id, hashes[k]!), now, finalCount));
    return { total, offset, limit, items };
  }

  /** Queue names the listed studies use (for bull-board). */
  async studyQueues(limit = 1000): Promise<Set<string>> {
    const ids = await this.#o.reader.listStudies(0, limit);
    const hashes = await this.#o.reader.readRecords(ids.map((s) => s.id));
    const out = new Set<string>([DEFAULT_QUEUE]);
    ids.forEach((s, k) => {
      for (const q of parseStudyRecord(s.id, hashes[k]!).queues) out.add(q);
    });
    return out;
  }

  /** The study's summary and its steps with counts (the `summary` event of its stream). */
  async study(id: string): Promise<StudyDetail> {
    const snap = await this.#snapshot(id);
    const now = this.#now();
    const item = this.#rates.listItem({ ...snap.record, counts: snap.summary.counts }, now, () => snap.summary.final);
    return studyDetail(snap, item, now);
  }

  /** The step DAG laid out by dagre, with each step's counts. */
  async graph(id: string): Promise<GraphLayout & { steps: StepDetail[] }> {
    return stepGraph(await this.#snapshot(id));
  }

  /** A page of instances, optionally of one spec step and some states. */
  async instances(id: string, q: InstanceQuery): Promise<Page<InstanceView>> {
    return instancePage(await this.#snapshot(id), q, this.#jobs);
  }

  /** Failed and timed-out instances with the last lines of their standard error. */
  async failures(id: string, q: { offset: number; limit: number; tailLines: number }): Promise<Page<FailureView>> {
    return failurePage(await this.#snapshot(id), q, this.#jobs);
  }

  /** Workers that ran or can run the study's steps, and the allocations they live in. */
  async workers(id: string): Promise<{ now: number; workers: WorkerView[]; allocations: AllocationView[] }> {
    return workerViews(await this.#snapshot(id), this.#o.reader, this.#now());
  }

  /** The study's state, read again only if its hash says something changed. */
  async #snapshot(id: string): Promise<Snapshot> {
    const head = await this.#o.reader.readHead(id);
    if (head.state === undefined) {
      const exists = (await this.#o.reader.readRecords([id]))[0];
      if (!exists || Object.keys(exists).length === 0) throw new NotFoundError(`no study '${id}' in this Redis`);
    }
    const version = [head.cursor, head.state, head.counts, head.endedAt].join('|');
    const cached = this.#snapshots.get(id);
    if (cached?.version === version) return cached.loading; // loaded, or being loaded by another request
    const loading = this.#load(id, version);
    const entry = { version, loading };
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

  async #load(id: string, version: string): Promise<Snapshot> {
    const [hash] = await this.#o.reader.readRecords([id]);
    const record = parseStudyRecord(id, hash ?? {});
    const model = await this.#models.get(record);
    const bytes = await this.#o.reader.readState(id, record.instanceCount);
    const summary = summarizeStates(bytes, model.ranges);
    return { version, record, bytes, summary, model };
  }
}
