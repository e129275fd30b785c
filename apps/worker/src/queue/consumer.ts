/**
 * The BullMQ side of the worker: one BullMQ Worker per queue, pulling StepJobs and handing each
 * to `process`. The only module that imports bullmq.
 *
 * - Locks: `lockDurationMs` (renewed every half of it) and a stalled check every
 *   `stalledIntervalMs`, so a dead or frozen worker's step is re-delivered after about
 *   lockDuration + 2 * stalledInterval. BullMQ job attempts stay 1: the conductor retries.
 * - A re-delivery is a new run of the same attempt; the fence (fence.ts) counts runs and fails an
 *   attempt that keeps killing its workers, so BullMQ's own stall limit sits above that count.
 *   Deliveries whose lock lapses before their claim (overloaded event loops) count no run, so
 *   BullMQ may still fail a job as stalled; the conductor's reconciliation then runs its steps
 *   again as a new attempt, uncounted (apps/conductor reconcile.ts).
 * - Lock loss: bullmq 6.7.0 emits `lockRenewalFailed` with the job ids whose lock could not be
 *   extended (LockManager.extendLocks); the step is then running on borrowed time.
 * - Several queues share one `concurrency`: each queue's Worker may take that many jobs, and when
 *   all slots are busy the others are paused. A Worker already blocked waiting for a job can still
 *   take one more, which waits here for a slot (at most one per other queue).
 * - Holding: a step that finds no free cores here goes back to the head of the queue, for a
 *   worker with room, and the worker asks the consumer to fetch nothing more (`hold`) until
 *   some of its cores come free: it neither hoards jobs it cannot start (BullMQ fetches up to
 *   `concurrency` at once) nor takes the same one back at once.
 * - A job the worker can never run (too large, or a walltime longer than its time left) goes
 *   back as `later`: delayed by `handBackDelayMs`, then to the back of the wait list, so that it
 *   neither blocks the jobs behind it nor comes straight back to the same worker.
 */
import { DelayedError, ErrorCode, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { isBusyReply, type Redis } from '../redis.js';
import { WorkerError, WorkerErrorCode } from '../errors.js';

export interface DeliveredJob {
  queue: string;
  /** BullMQ job id (stepJobId for our jobs, but a foreign job may have any id). */
  id: string;
  /** `<queue>/<id>`: unique among the jobs this worker holds. */
  key: string;
  data: unknown;
  /**
   * This worker's lock on the job, checked and extended by the claim itself (fence.ts): a worker
   * that woke up late must not claim a newer run than the one the job's new owner is running.
   * Undefined when BullMQ gave no token (then there is no lock to check).
   */
  lock: JobLock | undefined;
  /** When the job was added to the queue (BullMQ's job timestamp, the adder's clock), if known. */
  queuedAtMs: number | undefined;
}

/** Where BullMQ keeps a job's lock, and what it must hold for this worker. */
export interface JobLock {
  key: string;
  /** The queue's stalled set: a job whose lock was extended leaves it (as BullMQ's extendLock). */
  stalledKey: string;
  token: string;
  durationMs: number;
  jobId: string;
}

/**
 * What became of a job: `done` completes it in BullMQ (whatever the step's outcome: results
 * travel through the fence); `give-back` returns it to the front of the queue untouched for
 * another worker; `later` puts it aside for `handBackDelayMs`, then at the back of the queue.
 * Throwing a WorkerError with code JobRejected fails it without retry.
 */
export type Disposition = 'done' | 'give-back' | 'later';

export interface ConsumerHandlers {
  process(job: DeliveredJob): Promise<Disposition>;
  /** The lock of a job this worker is processing could not be renewed. */
  lockLost(key: string): void;
  /**
   * `busy`: Redis answered BUSY (another script past its lua-time-limit); BullMQ asks again;
   * `lost-lock`: BullMQ could not finish a job whose lock was gone (expected after lockLost);
   * `connection`: Redis is unreachable (BullMQ retries by itself); `queue`: anything else.
   */
  error(err: Error, kind: 'lost-lock' | 'connection' | 'busy' | 'queue', queue: string): void;
}

export interface ConsumerOptions {
  redis: Redis;
  prefix: string;
  queues: readonly string[];
  concurrency: number;
  workerName: string;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxRunsPerAttempt: number;
  handBackDelayMs: number;
}

export interface StepConsumer {
  /** Resolves once every queue's connections are ready. */
  ready(): Promise<void>;
  /** Fetches no new jobs while `on` (jobs in hand go on). */
  hold(on: boolean): void;
  /** Stops taking jobs at once; resolves when the jobs in hand are finished and BullMQ is closed. */
  close(): Promise<void>;
}

/**
 * Seconds an idle Worker blocks on its queue's marker before asking again (BullMQ's drainDelay,
 * 5 s by default). A job added, or a delayed one coming due, wakes it at once through the marker
 * (and BullMQ caps the wait at the next delayed job), and close() breaks the wait: the period
 * only sets what an idle worker costs Redis. At 5 s, one BZPOPMIN and one moveToActive script a
 * worker every 5 s were about a third of an idle fleet's commands (bench `--only fleet`).
 */
const IDLE_BLOCK_S = 30;

const LOST_LOCK_CODES: readonly number[] = [
  ErrorCode.JobNotExist,
  ErrorCode.JobLockNotExist,
  ErrorCode.JobLockMismatch,
];

export function makeStepConsumer(options: ConsumerOptions, handlers: ConsumerHandlers): StepConsumer {
  const shared = options.queues.length > 1;
  let busy = 0;
  let held = false;
  let paused = false;
  let closing = false;
  let slotWaiters: (() => void)[] = [];
  const workers: Worker[] = [];
  const byQueue = new Map<string, Worker>();

  const wakeSlotWaiters = (): void => {
    const waiters = slotWaiters;
    slotWaiters = [];
    for (const wake of waiters) wake();
  };
  /** Paused while every slot of shared queues is busy, or while the worker holds. */
  const updatePaused = (): void => {
    if (closing) return; // BullMQ's close() stops fetching; never resume while closing
    const want = held || (shared && busy >= options.concurrency);
    if (want === paused) return;
    paused = want;
    for (const w of workers) {
      const p = want ? w.pause(true) : Promise.resolve(w.resume());
      p.catch((err: unknown) => handlers.error(err as Error, 'queue', w.name));
    }
  };

  const processor = async (job: Job, token: string | undefined): Promise<void> => {
    if (shared) {
      while (busy >= options.concurrency && !closing) await new Promise<void>((r) => slotWaiters.push(r));
      if (closing) return giveBack(job, token);
      busy++;
      updatePaused();
    }
    try {
      const worker = byQueue.get(job.queueName)!;
      const delivered: DeliveredJob = {
        queue: job.queueName,
        id: String(job.id),
        key: `${job.queueName}/${job.id}`,
        data: job.data,
        queuedAtMs: Number.isFinite(job.timestamp) ? job.timestamp : undefined,
        lock:
          token === undefined
            ? undefined
            : {
                key: `${worker.toKey(String(job.id))}:lock`,
                stalledKey: worker.toKey('stalled'),
                token,
                durationMs: options.lockDurationMs,
                jobId: String(job.id),
              },
      };
      const disposition = await handlers.process(delivered);
      if (disposition === 'give-back') return giveBack(job, token);
      if (disposition === 'later') return putAside(job, token, options.handBackDelayMs);
    } catch (err) {
      if (err instanceof WorkerError && err.code === WorkerErrorCode.JobRejected) {
        throw new UnrecoverableError(err.message);
      }
      throw err;
    } finally {
      if (shared) {
        busy--;
        updatePaused();
        wakeSlotWaiters();
      }
    }
  };

  for (const queue of options.queues) {
    const worker = new Worker(queue, processor, {
      connection: options.redis,
      prefix: options.prefix,
      name: options.workerName,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      drainDelay: IDLE_BLOCK_S,
      // The fence fails an attempt after maxRunsPerAttempt runs; BullMQ must re-deliver at least
      // that often (plus one delivery lost before its claim) or the study would wait forever.
      maxStalledCount: options.maxRunsPerAttempt + 1,
    });
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) handlers.lockLost(`${queue}/${id}`);
    });
    worker.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      // LockManager reports each failed renewal twice: as `lockRenewalFailed` (handled above)
      // and as a plain Error without a code; the second one carries nothing new.
      if (code === undefined && /^could not renew lock for job /.test(err.message)) return;
      const kind =
        typeof code === 'number' && LOST_LOCK_CODES.includes(code)
          ? 'lost-lock'
          : typeof code === 'string'
            ? 'connection'
            : isBusyReply(err)
              ? 'busy'
              : 'queue';
      handlers.error(err, kind, queue);
    });
    workers.push(worker);
    byQueue.set(queue, worker);
  }

  return {
    async ready() {
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    hold(on) {
      held = on;
      updatePaused();
    },
    async close() {
      closing = true;
      wakeSlotWaiters();
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

/** Puts a job in hand aside for `delayMs` (BullMQ's delayed set; no attempt counted), lock released. */
async function putAside(job: Job, token: string | undefined, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

/** Returns a job in hand to the wait list, lock released, as if it had never been taken. */
async function giveBack(job: Job, token: string | undefined): Promise<never> {
  await job.moveToWait(token);
  throw new WaitingError();
}
