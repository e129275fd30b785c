/**
 * Everything the study view shows, read from the records the conductor and workers write (never
 * from BullMQ's keys) and shaped into the JSON the page and docs/dashboard.md describe.
 *
 * Costs stay flat at 100,000 instances: the packed state (40 bytes an instance) is read again
 * only when the study hash says it changed (its cursor, counts or state moved), aggregated in one
 * pass, and shared by every request and stream until the next change; lists are paged.
 * Instance names, workspaces and the step DAG come from expanding the study again from its folder
 * (meta/study.json), once per study; without the folder the view shows what the hash has.
 */
import path from 'node:path';
import {
  DEFAULT_QUEUE,
  readStateRecord,
  STATE_RECORD_BYTES,
  StepState,
  stepJobId,
  stepStateName,
  WORKER_RECORD_TTL_MS,
  type StepStateName,
  type WorkerRecord,
} from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import { errFileOf, readTail, type FileTail } from '../status/index.js';
import type { JobPresence } from '../queue/index.js';
import type { StudyReader } from '../redis/index.js';
import { reloadStudy, readStudyMeta } from '../study/index.js';
import {
  etaMs,
  finalCount,
  pageInstances,
  RateTracker,
  summarizeStates,
  type StateSummary,
  type StepRange,
} from './aggregate.js';
import { readConductorView, withConductor, type ConductorView } from './conductor.js';
import { layoutStepGraph, type GraphLayout } from './graph-layout.js';
import { parseStudyRecord, parseWorkerRecord, type StudyRecord } from './records.js';

export interface CatalogOptions {
  readonly reader: StudyReader;
  /** BullMQ's state of step jobs, for links into bull-board. */
  readonly jobStates: (jobs: readonly { queue: string; id: string }[]) => Promise<JobPresence[]>;
  /** Where bull-board is mounted, e.g. `/queues`. */
  readonly boardPath: string;
  readonly log: Logger;
  readonly now?: () => number;
}

/** One row of the study list (GET /api/studies). */
export interface StudyListItem {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly root: string;
  readonly host: string;
  readonly state: string;
  readonly total: number;
  readonly counts: Record<string, number>;
  /** Instances in a final state (FINISHED, FAILED, TIMEDOUT, CANCELLED). */
  readonly final: number;
  /** Epoch ms; null before the conductor started it. */
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly elapsedMs: number | null;
  /** Time left at the current rate; 0 when ended; null without a rate yet. */
  readonly etaMs: number | null;
  /** Instances reaching a final state per second, over about the last minute. */
  readonly ratePerSec: number;
  readonly problem: string | null;
}

export interface StepDetail {
  readonly index: number;
  readonly name: string;
  readonly total: number;
  readonly counts: Record<string, number>;
  /** Names of one-to-one parents and of funnel parents (`depends: [x_*]`). */
  readonly parents: string[];
  readonly funnelParents: string[];
}

/** GET /api/studies/:id, and every `summary` event of its stream. */
export interface StudyDetail extends StudyListItem {
  readonly now: number;
  /** Changes whenever instance records may have changed. */
  readonly version: string;
  readonly createdAt: string | null;
  readonly queues: readonly string[];
  readonly limits: StudyRecord['limits'];
  readonly cancelled: boolean;
  readonly failedTotal: number;
  readonly steps: StepDetail[];
  /** Whether the study folder could be read here (names, workspaces, DAG, error output need it). */
  readonly folder: { readonly readable: boolean; readonly problem: string | null };
  /** Whether a conductor drives a RUNNING study (dashboard/conductor.ts); null otherwise. */
  readonly conductor: ConductorView | null;
}

export interface JobLink {
  readonly queue: string;
  readonly id: string;
  /** BullMQ's state, or 'missing': completed jobs are removed at once, so a finished step has none. */
  readonly state: JobPresence;
  /** bull-board's page of the job; null when BullMQ no longer has it. */
  readonly url: string | null;
}

export interface InstanceView {
  readonly index: number;
  readonly name: string;
  readonly step: string;
  readonly state: StepStateName;
  /** Number of the current job (0 = never queued); job ids are `<study>.<index>.<attempt>`. */
  readonly attempt: number;
  readonly tries: number;
  readonly restarts: number;
  /** Exit code of the last run; null when none (never ran, still running, or killed by a signal). */
  readonly exitCode: number | null;
  readonly submittedAt: number | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly worker: string | null;
  readonly pid: number | null;
  /** Relative to the study folder; null without the folder. */
  readonly workspace: string | null;
  readonly params: Readonly<Record<string, string>>;
  readonly job: JobLink | null;
}

export interface FailureView extends InstanceView {
  /** True when it never ran: a step it depends on failed, which fails it too (as in Maestro). */
  readonly upstream: boolean;
  /** The end of its `.err` file; null when it never ran or the study folder is not readable here. */
  readonly err: FileTail | null;
}

export interface WorkerView {
  readonly name: string;
  readonly host: string;
  readonly allocationId: string | null;
  readonly scheduler: string | null;
  /** The worker's own state, or 'gone' when its heartbeat expired. */
  readonly state: string;
  readonly slots: number | null;
  /** Steps it runs now (any study) and of this study. */
  readonly running: number | null;
  readonly runningHere: number;
  readonly done: number | null;
  readonly queues: string[];
  readonly lastSeen: number | null;
  readonly allocationEndsAt: number | null;
  readonly timeLeftMs: number | null;
}

export interface AllocationView {
  /** The scheduler's job id, or `local@<host>` for workers outside any allocation. */
  readonly id: string;
  readonly scheduler: string | null;
  readonly hosts: string[];
  readonly workers: number;
  readonly alive: number;
  readonly slots: number;
  readonly running: number;
  readonly endsAt: number | null;
  readonly timeLeftMs: number | null;
}

export interface Page<T> {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: T[];
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

interface Model {
  readonly ranges: StepRange[];
  readonly expanded: ExpandedStudy | undefined;
  readonly problem: string | undefined;
  readonly parents: { parents: number[]; funnelParents: number[] }[];
  readonly loadedMs: number;
  graph?: GraphLayout;
}

interface Snapshot {
  readonly version: string;
  readonly record: StudyRecord;
  readonly bytes: Uint8Array;
  readonly summary: StateSummary;
  readonly model: Model;
}

/** How long a study whose folder could not be read waits before the next try. */
const MODEL_RETRY_MS = 30_000;
/** Studies whose expansion and latest snapshot stay in memory. */
const MAX_MODELS = 32;

export class StudyCatalog {
  readonly #o: CatalogOptions;
  readonly #now: () => number;
  readonly #models = new Map<string, Promise<Model>>();
  readonly #snapshots = new Map<string, { version: string; loading: Promise<Snapshot> }>();
  readonly #rates = new Map<string, RateTracker>();

  constructor(options: CatalogOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  // ---- the list ---------------------------------------------------------------------------

  async listStudies(offset: number, limit: number): Promise<Page<StudyListItem>> {
    const reader = this.#o.reader;
    const [total, ids] = await Promise.all([reader.countStudies(), reader.listStudies(offset, limit)]);
    const hashes = await reader.readRecords(ids.map((s) => s.id));
    const now = this.#now();
    const items = ids.map((s, k) => this.#listItem(parseStudyRecord(s.id, hashes[k]!), now, finalCount));
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

  #listItem(r: StudyRecord, now: number, final: (c: Record<string, number>) => number): StudyListItem {
    const done = final(r.counts);
    const rate = this.#rate(r, now, done);
    const ended = r.state !== 'RUNNING';
    const eta = ended ? 0 : etaMs(r.instanceCount, done, rate);
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      root: r.root,
      host: r.host,
      state: r.state,
      total: r.instanceCount,
      counts: r.counts,
      final: done,
      startedAt: r.startedMs ?? null,
      endedAt: r.endedMs ?? null,
      elapsedMs: r.startedMs === undefined ? null : (ended && r.endedMs ? r.endedMs : now) - r.startedMs,
      etaMs: eta ?? null,
      ratePerSec: Number(rate.toFixed(3)),
      problem: r.problem ?? null,
    };
  }

  #rate(r: StudyRecord, now: number, final: number): number {
    if (r.startedMs === undefined) return 0;
    let t = this.#rates.get(r.id);
    if (!t) {
      t = new RateTracker();
      this.#rates.set(r.id, t);
    }
    if (r.state === 'RUNNING') t.add(now, final);
    const end = r.state === 'RUNNING' ? now : (r.endedMs ?? now);
    return t.ratePerSec(end, r.startedMs, final);
  }

  // ---- one study ----------------------------------------------------------------------------

  /** The study's summary and its steps with counts (the `summary` event of its stream). */
  async study(id: string): Promise<StudyDetail> {
    const snap = await this.#snapshot(id);
    const detail = this.#detail(snap);
    return withConductor(detail, await readConductorView(this.#o.reader, snap.record, detail.now));
  }

  #detail(snap: Snapshot): Omit<StudyDetail, 'conductor'> {
    const { record: r, summary, model } = snap;
    const now = this.#now();
    const item = this.#listItem({ ...r, counts: summary.counts }, now, () => summary.final);
    const names = model.ranges.map((s) => s.name);
    return {
      ...item,
      now,
      version: snap.version,
      createdAt: r.createdAt ?? null,
      queues: r.queues,
      limits: r.limits,
      cancelled: r.cancelled,
      failedTotal: summary.failed.length,
      steps: summary.steps.map((s, k) => ({
        index: k,
        name: s.name,
        total: s.total,
        counts: s.counts,
        parents: (model.parents[k]?.parents ?? []).map((p) => names[p]!),
        funnelParents: (model.parents[k]?.funnelParents ?? []).map((p) => names[p]!),
      })),
      folder: { readable: model.expanded !== undefined, problem: model.problem ?? null },
    };
  }

  /** The step DAG laid out by dagre, with each step's counts. */
  async graph(id: string): Promise<GraphLayout & { steps: StepDetail[] }> {
    const snap = await this.#snapshot(id);
    const model = snap.model;
    model.graph ??= layoutStepGraph(model.ranges.map((s, k) => ({ name: s.name, ...model.parents[k]! })));
    return { ...model.graph, steps: this.#detail(snap).steps };
  }

  /** A page of instances, optionally of one spec step and some states. */
  async instances(
    id: string,
    q: { step?: string | undefined; states?: readonly string[] | undefined; offset: number; limit: number },
  ): Promise<Page<InstanceView>> {
    const snap = await this.#snapshot(id);
    const count = snap.record.instanceCount;
    let from = 0;
    let to = count;
    if (q.step !== undefined) {
      const s = snap.model.ranges.find((r) => r.name === q.step);
      if (!s) throw new NotFoundError(`study ${id} has no step '${q.step}'`);
      from = s.firstInstance;
      to = s.firstInstance + s.instanceCount;
    }
    const states = new Set<number>();
    for (const name of q.states ?? []) {
      const code = StepState[name.toUpperCase() as StepStateName];
      if (code === undefined) throw new BadRequestError(`unknown state '${name}'`);
      states.add(code);
    }
    const { total, indices } = pageInstances(snap.bytes, { states, from, to }, q.offset, q.limit);
    return { total, offset: q.offset, limit: q.limit, items: await this.#views(snap, indices) };
  }

  /** Failed and timed-out instances with the last lines of their standard error. */
  async failures(id: string, q: { offset: number; limit: number; tailLines: number }): Promise<Page<FailureView>> {
    const snap = await this.#snapshot(id);
    const failed = snap.summary.failed;
    const indices = Array.from(failed.subarray(q.offset, q.offset + q.limit));
    const views = await this.#views(snap, indices);
    const x = snap.model.expanded;
    const items = await Promise.all(
      views.map(async (v) => {
        // Never started (it may have been sent, in its parent's chain): status.json's rule too.
        const upstream = v.startedAt === null;
        return {
          ...v,
          upstream,
          err: x && !upstream ? await readTail(errFileOf(x, v.index), q.tailLines, x.root) : null,
        };
      }),
    );
    return { total: failed.length, offset: q.offset, limit: q.limit, items };
  }

  async #views(snap: Snapshot, indices: readonly number[]): Promise<InstanceView[]> {
    const { record: r, bytes, model } = snap;
    const x = model.expanded;
    const refs: { queue: string; id: string }[] = [];
    const base = indices.map((i) => {
      const rec = readStateRecord(bytes, i);
      const inst = x?.instance(i);
      const stepIndex = x ? x.stepIndexOf(i) : stepOf(model.ranges, i);
      const range = model.ranges[stepIndex]!;
      const queue =
        typeof inst?.run['task_queue'] === 'string'
          ? inst.run['task_queue']
          : r.queues.length === 1
            ? r.queues[0]!
            : DEFAULT_QUEUE;
      // A bundle member's job is its bundle's, named after its first instance.
      const job = rec.attempt > 0 ? { queue, id: stepJobId(r.id, rec.bundle, rec.attempt) } : undefined;
      if (job) refs.push(job);
      return { i, rec, inst, range, job };
    });
    const states = await this.#o.jobStates(refs).catch(() => refs.map((): JobPresence => 'missing'));
    let k = 0;
    return base.map(({ i, rec, inst, range, job }) => {
      let link: JobLink | null = null;
      if (job) {
        const state = states[k++] ?? 'missing';
        const url =
          state === 'missing'
            ? null
            : `${this.#o.boardPath}/queue/${encodeURIComponent(job.queue)}/${encodeURIComponent(job.id)}`;
        link = { ...job, state, url };
      }
      return {
        index: i,
        name: inst?.name ?? `${range.name}#${i - range.firstInstance}`,
        step: range.name,
        state: stepStateName(rec.state),
        attempt: rec.attempt,
        tries: rec.tries,
        restarts: rec.restarts,
        exitCode: rec.endMs > 0 && rec.exitCode !== -1 ? rec.exitCode : null,
        submittedAt: rec.submitMs || null,
        startedAt: rec.startMs || null,
        endedAt: rec.endMs || null,
        worker: rec.worker ? (r.workerNames[rec.worker] ?? null) : null,
        pid: rec.pid || null,
        workspace: inst?.workspace ?? null,
        params: inst?.params ?? {},
        job: link,
      };
    });
  }

  /** Workers that ran or can run the study's steps, and the allocations they live in. */
  async workers(id: string): Promise<{ now: number; workers: WorkerView[]; allocations: AllocationView[] }> {
    const snap = await this.#snapshot(id);
    const reader = this.#o.reader;
    const now = this.#now();
    const r = snap.record;
    const runningHere = new Map<string, number>();
    const count = r.instanceCount;
    for (let i = 0; i < count; i++) {
      if (snap.bytes[i * STATE_RECORD_BYTES] !== StepState.RUNNING) continue;
      const rec = readStateRecord(snap.bytes, i);
      const name = r.workerNames[rec.worker];
      if (name) runningHere.set(name, (runningHere.get(name) ?? 0) + 1);
    }
    const [joined, alive] = await Promise.all([
      reader.readStudyWorkers(id),
      reader.recentWorkers(now - WORKER_RECORD_TTL_MS, 1000),
    ]);
    const names = new Set<string>([...Object.keys(joined), ...r.workerNames.filter(Boolean), ...alive]);
    const list = [...names];
    const hashes = await reader.readWorkerRecords(list);
    const studyQueues = new Set(r.queues.length > 0 ? r.queues : [DEFAULT_QUEUE]);
    const workers: WorkerView[] = [];
    list.forEach((name, k) => {
      const rec: WorkerRecord | undefined = parseWorkerRecord(hashes[k]!);
      const queues = rec ? rec.queues.split(',').filter(Boolean) : [];
      const ranHere = name in joined || r.workerNames.includes(name);
      // An idle worker of another deployment's queues is not serving this study.
      if (!ranHere && !queues.some((q) => studyQueues.has(q))) return;
      const info = parseJoined(joined[name]);
      const endsAt = rec?.allocationEndsAt ?? null;
      workers.push({
        name,
        host: rec?.host ?? info.host ?? '',
        allocationId: rec?.allocationId ?? info.allocationId ?? null,
        scheduler: rec?.scheduler ?? null,
        state: rec?.state ?? 'gone',
        slots: rec?.slots ?? null,
        // The heartbeat is up to a few seconds old; the study's own records are fresher.
        running: rec ? Math.max(rec.running, runningHere.get(name) ?? 0) : null,
        runningHere: runningHere.get(name) ?? 0,
        done: rec?.done ?? null,
        queues,
        lastSeen: rec?.lastSeen ?? null,
        allocationEndsAt: endsAt,
        timeLeftMs: endsAt === null ? null : Math.max(0, endsAt - now),
      });
    });
    workers.sort((a, b) => Number(a.state === 'gone') - Number(b.state === 'gone') || a.name.localeCompare(b.name));
    return { now, workers, allocations: allocationsOf(workers) };
  }

  // ---- snapshots and models -------------------------------------------------------------------

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
    const model = await this.#model(record);
    const bytes = await this.#o.reader.readState(id, record.instanceCount);
    const summary = summarizeStates(bytes, model.ranges);
    return { version, record, bytes, summary, model };
  }

  #model(r: StudyRecord): Promise<Model> {
    const cached = this.#models.get(r.id);
    if (cached) {
      return cached.then((m) => {
        if (m.expanded || this.#now() - m.loadedMs < MODEL_RETRY_MS) return m;
        this.#models.delete(r.id);
        return this.#model(r);
      });
    }
    const loading = this.#buildModel(r);
    this.#models.set(r.id, loading);
    if (this.#models.size > MAX_MODELS) {
      const oldest = this.#models.keys().next().value;
      if (oldest !== undefined && oldest !== r.id) this.#models.delete(oldest);
    }
    return loading;
  }

  async #buildModel(r: StudyRecord): Promise<Model> {
    const loadedMs = this.#now();
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
      this.#o.log.warn({ studyId: r.id, root: r.root, err: (err as Error).message }, 'cannot expand the study');
      return without(`cannot read the study folder ${path.basename(r.root)} here: ${(err as Error).message}`);
    }
  }
}

export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

function stepOf(ranges: readonly StepRange[], i: number): number {
  let k = 0;
  while (k + 1 < ranges.length && ranges[k + 1]!.firstInstance <= i) k++;
  return k;
}

function parseJoined(text: string | undefined): { host?: string; allocationId?: string } {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as { host?: unknown; allocationId?: unknown };
    return {
      host: typeof v.host === 'string' ? v.host : undefined,
      allocationId: typeof v.allocationId === 'string' ? v.allocationId : undefined,
    };
  } catch {
    return {};
  }
}

/** Workers grouped by allocation; the allocation ends when its first worker says it does. */
export function allocationsOf(workers: readonly WorkerView[]): AllocationView[] {
  const groups = new Map<string, WorkerView[]>();
  for (const w of workers) {
    const key = w.allocationId ?? `local@${w.host || '?'}`;
    const list = groups.get(key) ?? [];
    list.push(w);
    groups.set(key, list);
  }
  return [...groups].map(([id, ws]) => {
    const ends = ws.map((w) => w.allocationEndsAt).filter((v): v is number => v !== null);
    const left = ws.map((w) => w.timeLeftMs).filter((v): v is number => v !== null);
    return {
      id,
      scheduler: ws.find((w) => w.scheduler)?.scheduler ?? null,
      hosts: [...new Set(ws.map((w) => w.host).filter(Boolean))],
      workers: ws.length,
      alive: ws.filter((w) => w.state !== 'gone').length,
      slots: ws.reduce((n, w) => n + (w.state === 'gone' ? 0 : (w.slots ?? 0)), 0),
      running: ws.reduce((n, w) => n + w.runningHere, 0),
      endsAt: ends.length ? Math.min(...ends) : null,
      timeLeftMs: left.length ? Math.min(...left) : null,
    };
  });
}
