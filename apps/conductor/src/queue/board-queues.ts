/**
 * The dashboard's side of BullMQ: one Queue per maestro queue, wrapped for bull-board, and the
 * state of a step's job for the study view's links. Only BullMQ's own API is used (never its
 * keys), and nothing here is study state: a job that completed is simply gone.
 */
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { Queue } from 'bullmq';
import type { Redis } from '../redis/index.js';

/** What BullMQ says of a job, or 'missing' when it no longer has it (completed jobs are removed). */
export type JobPresence =
  'waiting' | 'active' | 'delayed' | 'prioritized' | 'waiting-children' | 'failed' | 'completed' | 'missing';

export class BoardQueues {
  readonly #queues = new Map<string, { queue: Queue; adapter: BullMQAdapter }>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    /** bull-board's readOnlyMode: its API answers 405 to retry, clean, remove, pause... */
    private readonly readOnly: boolean,
  ) {}

  get names(): string[] {
    return [...this.#queues.keys()];
  }

  /** Adds queues not seen before; returns their bull-board adapters (to register). */
  ensure(names: Iterable<string>): BullMQAdapter[] {
    const added: BullMQAdapter[] = [];
    for (const name of names) {
      if (this.#queues.has(name)) continue;
      const queue = new Queue(name, { connection: this.connection, prefix: this.prefix });
      queue.on('error', () => {
        // Connection errors surface through bull-board's requests; BullMQ needs a listener.
      });
      const adapter = new BullMQAdapter(queue, {
        readOnlyMode: this.readOnly,
        allowRetries: !this.readOnly,
        description: `maestro queue (prefix ${this.prefix})`,
      });
      this.#queues.set(name, { queue, adapter });
      added.push(adapter);
    }
    return added;
  }

  /** BullMQ's state of each job; unknown queues and removed jobs are 'missing'. */
  async jobStates(jobs: readonly { queue: string; id: string }[]): Promise<JobPresence[]> {
    return Promise.all(
      jobs.map(async (j): Promise<JobPresence> => {
        const q = this.#queues.get(j.queue)?.queue;
        if (!q) return 'missing';
        const s = await q.getJobState(j.id);
        return s === 'unknown' ? 'missing' : (s as JobPresence);
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.queue.close().catch(() => undefined)));
    this.#queues.clear();
  }
}
