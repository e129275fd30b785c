/**
 * The only place the conductor touches BullMQ: adding step jobs, asking whether a job still
 * exists, removing queued jobs of a cancelled study. Study state never comes from here.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StepJob } from '@maestro/protocol';

export interface QueuedJob {
  readonly queue: string;
  readonly id: string;
  readonly data: StepJob;
}

/** Completed jobs are removed at once (our own state says what ran); a few failed ones are kept to look at. */
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000, attempts: 1 } as const;
const BULK = 1000;

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
        const bulk = list
          .slice(k, k + BULK)
          .map((j) => ({ name: 'step', data: j.data, opts: { ...JOB_OPTIONS, jobId: j.id } }));
        // One job (a chain's next link) goes without addBulk's pipeline: building an ioredis
        // pipeline copies every script BullMQ defines onto it, which costs more than the add.
        if (bulk.length === 1) await q.add(bulk[0]!.name, bulk[0]!.data, bulk[0]!.opts);
        else await q.addBulk(bulk);
      }
    }
  }

  /** 'missing' when BullMQ no longer has the job (completed and removed, or lost with Redis data). */
  async jobStates(jobs: readonly { queue: string; id: string }[]): Promise<('present' | 'failed' | 'missing')[]> {
    const out: ('present' | 'failed' | 'missing')[] = [];
    for (let k = 0; k < jobs.length; k += 500) {
      const chunk = jobs.slice(k, k + 500);
      const states = await Promise.all(chunk.map((j) => this.queue(j.queue).getJobState(j.id)));
      for (const s of states)
        out.push(s === 'unknown' || s === 'completed' ? 'missing' : s === 'failed' ? 'failed' : 'present');
    }
    return out;
  }

  /** Removes queued (not running) jobs; running ones are cancelled through the workers. */
  async removeQueued(jobs: readonly { queue: string; id: string }[]): Promise<void> {
    for (const j of jobs) {
      await this.queue(j.queue)
        .remove(j.id)
        .catch(() => 0); // a job that just started is locked: the workers cancel it
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}
