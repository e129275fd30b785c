/**
 * The worker's presence in Redis, for `maestro status` and the conductor:
 * - `<p>:worker:<name>`: a WorkerRecord hash, rewritten every heartbeat with a TTL, so a worker
 *   that dies disappears on its own;
 * - `<p>:workers`: worker names scored by last heartbeat (ms);
 * - `<p>:study:<id>:workers`: name -> {host, allocationId}, written the first time this worker
 *   runs a step of the study (kept after the study for its report);
 * - `<p>:drain`: read at each heartbeat, for a `maestro workers stop` this worker missed.
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
import type { Redis } from './redis.js';

export interface Presence {
  /** Writes the worker record now. */
  beat(record: WorkerRecord): Promise<void>;
  /** Records that this worker runs steps of `studyId` (once per study). */
  joinStudy(studyId: string): Promise<void>;
  /** Removes the worker record and its entry in the workers set (clean exit). */
  remove(): Promise<void>;
  /** True when `maestro workers stop` asked this worker, or its allocation, to drain. */
  drainRequested(): Promise<boolean>;
}

export function makePresence(
  redis: Redis,
  prefix: string,
  who: { name: string; host: string; allocationId?: string },
): Presence {
  const key = workerKey(prefix, who.name);
  const studies = new Set<string>();
  return {
    async beat(record) {
      const fields: Record<string, string> = {};
      for (const [k, v] of Object.entries(record)) if (v !== undefined) fields[k] = String(v);
      await redis
        .multi()
        .hset(key, fields)
        .pexpire(key, WORKER_RECORD_TTL_MS)
        .zadd(workersKey(prefix), record.lastSeen, who.name)
        .exec();
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
    async drainRequested() {
      const fields = [drainField.worker(who.name)];
      if (who.allocationId) fields.push(drainField.allocation(who.allocationId));
      const values = await redis.hmget(drainKey(prefix), ...fields);
      return values.some((v) => v !== null);
    },
  };
}
