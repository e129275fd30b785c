/**
 * The only place the conductor touches BullMQ: adding step jobs, asking whether a job still
 * exists, removing the jobs of a study that was cancelled or ended. Study state never comes from
 * here.
 */
import { Queue } from 'bullmq';
import type { Redis } from '../redis/index.js';
import { parseStepJobId, type StepJob } from '@maestro/protocol';

export interface QueuedJob {
  readonly queue: string;
  readonly id: string;
  readonly data: StepJob;
  /** How long the job waits in the queue before a worker may take it (a Merlin retry_delay). */
  readonly delayMs?: number | undefined;
}

/**
 * What BullMQ says of a step job: 'missing' when it no longer has it (completed and removed, or
 * lost with Redis data); 'stalled' when it failed because its locks expired more often than the
 * worker's maxStalledCount allows (STALLED_REASON); 'failed' when it failed for any other reason.
 */
export type StepJobPresence = 'present' | 'failed' | 'stalled' | 'missing';

/**
 * BullMQ's failedReason for a job whose lock expired more than maxStalledCount times: its stalled
 * check marks the job (moveStalledJobsToWait-9.lua, bullmq 6.7) and the next worker to fetch it
 * fails it with this message instead of running it. Not exported by BullMQ; the conductor's
 * stalled-job test fails if a BullMQ upgrade changes it.
 */
const STALLED_REASON = 'job stalled more than allowable limit';

/**
 * Completed jobs are removed at once (our own state says what ran). Failed ones (a worker could
 * not run the job at all) are kept, the last 1000 of a queue, until their study ends: the
 * conductor's reconciliation finds them there (StepQueues.jobStates) and fails their instances
 * (or runs them again, when the job stalled out); removeFailed() removes a study's own when it ends.
 */
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000, attempts: 1 } as const;
const BULK = 1000;
/**
 * Jobs asked about or removed at once: each is one script call, sent without waiting for the
 * reply of the one before (one round trip per batch), and a batch bounds the replies in memory.
 */
const BATCH = 500;

export class StepQueues {
  readonly #queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
  ) {}

  queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      q.on('error', () => {
        // Connection errors surface through the calls below; BullMQ needs a listener.
      });
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Adds jobs in batches; a job whose id already exists is left as it is (BullMQ's dedupe). */
  async add(jobs: readonly QueuedJob[]): Promise<void> {
    const byQueue = new Map<string, QueuedJob[]>();
    for (const j of jobs) {
      const list = byQueue.get(j.queue) ?? [];
      list.push(j);
      byQueue.set(j.queue, list);
    }
    for (const [name, list] of byQueue) {
      const q = this.queue(name);
      for (let k = 0; k < list.length; k += BULK) {
        const bulk = list.slice(k, k + BULK).map((j) => ({
          name: 'step',
          data: j.data,
          opts: { ...JOB_OPTIONS, jobId: j.id, ...(j.delayMs ? { delay: j.delayMs } : {}) },
        }));
        // One job (a chain's next link) goes without addBulk's pipeline: building an ioredis
        // pipeline copies every script BullMQ defines onto it, which costs more than the add.
        if (bulk.length === 1) await q.add(bulk[0]!.name, bulk[0]!.data, bulk[0]!.opts);
        else await q.addBulk(bulk);
      }
    }
  }

  /**
   * What BullMQ says of each job, in order. One round trip per batch, and one more for a batch
   * holding failed jobs (rare): only theirs are asked why they failed.
   */
  async jobStates(jobs: readonly { queue: string; id: string }[]): Promise<StepJobPresence[]> {
    const out: StepJobPresence[] = [];
    for (let k = 0; k < jobs.length; k += BATCH) {
      const chunk = jobs.slice(k, k + BATCH);
      const states = await Promise.all(chunk.map((j) => this.queue(j.queue).getJobState(j.id)));
      const presence = states.map((s): StepJobPresence =>
        s === 'unknown' || s === 'completed' ? 'missing' : s === 'failed' ? 'failed' : 'present',
      );
      const failedAt = presence.flatMap((p, n) => (p === 'failed' ? [n] : []));
      if (failedAt.length > 0) {
        // HGET of the one field: the job's data (a chain's members, up to CHAIN_MAX_BYTES) stays in Redis.
        const reasons = await Promise.all(
          failedAt.map((n) => this.connection.hget(this.queue(chunk[n]!.queue).toKey(chunk[n]!.id), 'failedReason')),
        );
        failedAt.forEach((n, f) => {
          if (reasons[f] === STALLED_REASON) presence[n] = 'stalled';
        });
      }
      out.push(...presence);
    }
    return out;
  }

  /**
   * Removes jobs that are not running, in batches, and returns how many could not be removed
   * (running: locked by a worker, which ends them; the workers cancel their steps).
   */
  async removeQueued(jobs: readonly { queue: string; id: string }[]): Promise<number> {
    let left = 0;
    for (let k = 0; k < jobs.length; k += BATCH) {
      const chunk = jobs.slice(k, k + BATCH);
      const removed = await Promise.all(chunk.map((j) => this.queue(j.queue).remove(j.id)));
      for (const r of removed) if (r !== 1) left++;
    }
    return left;
  }

  /** Removes the failed jobs of study `studyId` kept in queues `queues` (see JOB_OPTIONS). */
  async removeFailed(studyId: string, queues: readonly string[]): Promise<void> {
    for (const name of queues) {
      const ids = await this.queue(name).getRanges(['failed'], 0, -1);
      const mine = ids.filter((id) => parseStepJobId(id)?.studyId === studyId);
      await this.removeQueued(mine.map((id) => ({ queue: name, id })));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}
