/**
 * Instances as the study view lists them: pages filtered by step and state, and the failed and
 * timed-out ones with the end of their standard error. Each names its BullMQ job (a bundle
 * member's is its bundle's) and links it into bull-board while BullMQ still has it.
 */
import {
  DEFAULT_QUEUE,
  readStateRecord,
  StepState,
  stepJobId,
  stepStateName,
  type StepStateName,
} from '@maestro/protocol';
import { errFileOf, readTail } from '../status/index.js';
import type { JobPresence } from '../queue/index.js';
import { pageInstances, type StepRange } from './aggregate.js';
import type { Snapshot } from './study-model.js';
import {
  BadRequestError,
  NotFoundError,
  type FailureView,
  type InstanceView,
  type JobLink,
  type Page,
} from './views.js';

/** BullMQ's state of step jobs; where bull-board is mounted (e.g. `/queues`). */
export interface JobLookup {
  readonly jobStates: (jobs: readonly { queue: string; id: string }[]) => Promise<JobPresence[]>;
  readonly boardPath: string;
}

export interface InstanceQuery {
  readonly step?: string | undefined;
  readonly states?: readonly string[] | undefined;
  readonly offset: number;
  readonly limit: number;
}

/** A page of the snapshot's instances, optionally of one spec step and some states. */
export async function instancePage(snap: Snapshot, q: InstanceQuery, jobs: JobLookup): Promise<Page<InstanceView>> {
  let from = 0;
  let to = snap.record.instanceCount;
  if (q.step !== undefined) {
    const s = snap.model.ranges.find((r) => r.name === q.step);
    if (!s) throw new NotFoundError(`study ${snap.record.id} has no step '${q.step}'`);
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
  return { total, offset: q.offset, limit: q.limit, items: await instanceViews(snap, indices, jobs) };
}

/** A page of the failed and timed-out instances, each with the last `tailLines` of its `.err`. */
export async function failurePage(
  snap: Snapshot,
  q: { offset: number; limit: number; tailLines: number },
  jobs: JobLookup,
): Promise<Page<FailureView>> {
  const failed = snap.summary.failed;
  const indices = Array.from(failed.subarray(q.offset, q.offset + q.limit));
  const views = await instanceViews(snap, indices, jobs);
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

async function instanceViews(snap: Snapshot, indices: readonly number[], jobs: JobLookup): Promise<InstanceView[]> {
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
  const states = await jobs.jobStates(refs).catch(() => refs.map((): JobPresence => 'missing'));
  let k = 0;
  return base.map(({ i, rec, inst, range, job }) => {
    let link: JobLink | null = null;
    if (job) {
      const state = states[k++] ?? 'missing';
      const url =
        state === 'missing'
          ? null
          : `${jobs.boardPath}/queue/${encodeURIComponent(job.queue)}/${encodeURIComponent(job.id)}`;
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

function stepOf(ranges: readonly StepRange[], i: number): number {
  let k = 0;
  while (k + 1 < ranges.length && ranges[k + 1]!.firstInstance <= i) k++;
  return k;
}
