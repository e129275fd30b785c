/**
 * The worker's presence in Redis, for `maestro status` and the conductor, and the heartbeat that
 * keeps it fresh:
 * - `<p>:worker:<name>`: a WorkerRecord hash, rewritten every heartbeat with a TTL, so a worker
 *   that dies disappears on its own;
 * - `<p>:workers`: worker names scored by last heartbeat (ms);
 * - `<p>:study:<id>:workers`: name -> {host, allocationId}, written the first time this worker
 *   runs a step of the study (kept after the study for its report);
 * - `<p>:drain`: read at each heartbeat, for a `maestro workers stop` this worker missed.
 *
 * The heartbeat (every `heartbeatMs`, and once more as the worker starts to drain) rewrites the
 * record from the parts that know each field, and reads `<p>:drain` in the same transaction: one
 * round trip a beat, which with thousands of workers is most of what an idle one costs Redis.
 */
import {
  drainField,
  drainKey,
  studyWorkersKey,
  WORKER_RECORD_TTL_MS,
  workerKey,
  workersKey,
  type WorkerRecord,
} from '@maestro/protocol';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import type { Redis } from './redis.js';
import type { Slots } from './slots.js';
import type { Now } from './timers.js';

export interface Presence {
  /**
   * Writes the worker record now; resolves true when `maestro workers stop` asked this worker, or
   * its allocation, to drain (read in the same transaction).
   */
  beat(record: WorkerRecord): Promise<boolean>;
  /** Records that this worker runs steps of `studyId` (once per study). */
  joinStudy(studyId: string): Promise<void>;
  /** Removes the worker record and its entry in the workers set (clean exit). */
  remove(): Promise<void>;
}

export function makePresence(
  redis: Redis,
  prefix: string,
  who: { name: string; host: string; allocationId?: string },
): Presence {
  const key = workerKey(prefix, who.name);
  const studies = new Set<string>();
  const drainFields = [drainField.worker(who.name)];
  if (who.allocationId) drainFields.push(drainField.allocation(who.allocationId));
  return {
    async beat(record) {
      const fields: Record<string, string> = {};
      for (const [k, v] of Object.entries(record)) if (v !== undefined) fields[k] = String(v);
      const replies = await redis
        .multi()
        .hset(key, fields)
        .pexpire(key, WORKER_RECORD_TTL_MS)
        .zadd(workersKey(prefix), record.lastSeen, who.name)
        .hmget(drainKey(prefix), ...drainFields)
        .exec();
      const [err, drains] = replies?.[3] ?? [new Error('the heartbeat transaction was discarded'), null];
      if (err) throw err;
      return (drains as (string | null)[]).some((v) => v !== null);
    },
    async joinStudy(studyId) {
      if (studies.has(studyId)) return;
      await redis.hset(
        studyWorkersKey(prefix, studyId),
        who.name,
        JSON.stringify({ host: who.host, allocationId: who.allocationId }),
      );
      studies.add(studyId);
    },
    async remove() {
      await redis.multi().del(key).zrem(workersKey(prefix), who.name).exec();
    },
  };
}

export interface HeartbeatParts {
  presence: Presence;
  config: Pick<
    WorkerConfig,
    'name' | 'host' | 'queues' | 'concurrency' | 'cores' | 'gpuIds' | 'nodes' | 'allocationId' | 'scheduler'
  >;
  slots: Pick<Slots, 'freeCores' | 'freeGpus'>;
  /** Steps running now. */
  running: { readonly size: number };
  results: { readonly done: number };
  allocation: { readonly endsAt: number | undefined; readonly stopAt: number | undefined };
  lifecycle: Pick<Lifecycle, 'state'>;
  /** Cancels are forgotten at the heartbeat's pace. */
  control: { forgetExpired(): void };
  now: Now;
  log: Logger;
  /** Throttles the warning of a failed beat (shared with connection errors). */
  warn: (write: () => void) => void;
  /** A drain of this worker is standing in `<p>:drain`. */
  onDrainRequested(): void;
}

export class Heartbeat {
  readonly #parts: HeartbeatParts;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(parts: HeartbeatParts) {
    this.#parts = parts;
    this.#startedAt = parts.now();
  }

  record(): WorkerRecord {
    const { config, slots, allocation } = this.#parts;
    return {
      name: config.name,
      host: config.host,
      pid: process.pid,
      queues: config.queues.join(','),
      slots: config.concurrency,
      cores: config.cores,
      gpus: config.gpuIds.length,
      freeCores: slots.freeCores,
      freeGpus: slots.freeGpus,
      nodes: config.nodes,
      running: this.#parts.running.size,
      done: this.#parts.results.done,
      startedAt: this.#startedAt,
      lastSeen: this.#parts.now(),
      ...(config.allocationId ? { allocationId: config.allocationId } : {}),
      scheduler: config.scheduler,
      ...(allocation.endsAt !== undefined ? { allocationEndsAt: allocation.endsAt } : {}),
      ...(allocation.stopAt !== undefined ? { stopAt: allocation.stopAt } : {}),
      state: this.#parts.lifecycle.state,
    };
  }

  /** Writes the record, and looks for a standing drain while the worker runs. Never throws. */
  async beat(): Promise<void> {
    const p = this.#parts;
    p.control.forgetExpired();
    try {
      const drain = await p.presence.beat(this.record());
      if (p.lifecycle.state === 'running' && drain) p.onDrainRequested();
    } catch (err) {
      p.warn(() => p.log.warn({ err }, 'heartbeat failed'));
    }
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.beat(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
