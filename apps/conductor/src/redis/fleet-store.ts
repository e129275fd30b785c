/**
 * The fleet in Redis: the live workers (their heartbeat records), the allocations maestro
 * submitted (`<p>:allocations`), and drain requests (`<p>:drain` plus a WorkerSignal). Read by
 * `maestro workers list/stop`, the conductor's watch on steps no worker can run, and the
 * autoscaler. Keys and record shapes: @maestro/protocol keys.ts, control.ts, allocation.ts.
 */
import {
  AllocationRecord,
  allocationField,
  allocationsKey,
  controlChannel,
  DRAIN_TTL_MS,
  drainField,
  drainKey,
  WORKER_RECORD_TTL_MS,
  workerKey,
  WorkerRecord,
  workersKey,
  type WorkerSignal,
} from '@maestro/protocol';
import type { Redis } from './connection.js';

export class FleetStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** Workers that sent a heartbeat within the record's lifetime, with valid records. */
  async liveWorkers(nowMs: number): Promise<WorkerRecord[]> {
    const names = await this.#redis.zrangebyscore(workersKey(this.#prefix), nowMs - WORKER_RECORD_TTL_MS, '+inf');
    if (names.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const name of names) pipeline.hgetall(workerKey(this.#prefix, name));
    const replies = (await pipeline.exec()) ?? [];
    const workers: WorkerRecord[] = [];
    for (const [err, value] of replies) {
      if (err || !value || Object.keys(value as object).length === 0) continue; // expired meanwhile
      const parsed = WorkerRecord.safeParse(value);
      if (parsed.success) workers.push(parsed.data);
    }
    return workers;
  }

  async allocations(): Promise<AllocationRecord[]> {
    const all = await this.#redis.hgetall(allocationsKey(this.#prefix));
    const out: AllocationRecord[] = [];
    for (const json of Object.values(all)) {
      try {
        out.push(AllocationRecord.parse(JSON.parse(json)));
      } catch {
        // written by another version: not ours to read
      }
    }
    return out.sort((a, b) => a.submittedAt - b.submittedAt);
  }

  async recordAllocation(record: AllocationRecord): Promise<void> {
    await this.#redis.hset(
      allocationsKey(this.#prefix),
      allocationField(record.scheduler, record.id),
      JSON.stringify(AllocationRecord.parse(record)),
    );
  }

  async markEnded(record: AllocationRecord, atMs: number): Promise<AllocationRecord> {
    const ended = { ...record, endedAt: record.endedAt ?? atMs };
    await this.recordAllocation(ended);
    return ended;
  }

  /**
   * Asks workers to drain: these allocations' and these workers by name. Published now, and kept
   * for DRAIN_TTL_MS for workers that miss the message (they read it at their heartbeat).
   */
  async requestDrain(target: { allocations: readonly string[]; workers: readonly string[] }): Promise<void> {
    const fields: string[] = [];
    const at = String(Date.now());
    for (const id of target.allocations) fields.push(drainField.allocation(id), at);
    for (const name of target.workers) fields.push(drainField.worker(name), at);
    if (fields.length === 0) return;
    const signal: WorkerSignal = { type: 'drain', allocations: [...target.allocations], workers: [...target.workers] };
    await this.#redis
      .multi()
      .hset(drainKey(this.#prefix), ...fields)
      .pexpire(drainKey(this.#prefix), DRAIN_TTL_MS)
      .publish(controlChannel(this.#prefix), JSON.stringify(signal))
      .exec();
  }
}
