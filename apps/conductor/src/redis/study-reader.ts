/**
 * Read-only access to what conductors and workers write about studies (keys in @maestro/protocol
 * keys.ts), for the dashboard. Nothing here writes, and nothing reads BullMQ's keys: study state
 * is ours, so it comes from our own records only.
 */
import {
  STATE_RECORD_BYTES,
  stateKey,
  studiesKey,
  studyKey,
  StudyRecordField as F,
  studyWorkersKey,
  workerKey,
  workersKey,
} from '@maestro/protocol';
import type { Redis } from './connection.js';
import { readConductorLease, type LeaseFacts } from './conductor-lease.js';

/** The fields of a study hash that change while it runs: cheap to poll. */
export interface StudyHead {
  readonly state: string | undefined;
  readonly counts: string | undefined;
  /** Last events-stream id the conductor applied: a new one means instance records changed. */
  readonly cursor: string | undefined;
  readonly endedAt: string | undefined;
}

/** Bytes of packed state read per GETRANGE (about 95,000 instances). */
const STATE_READ_CHUNK_BYTES = 4 << 20;

export class StudyReader {
  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
  ) {}

  /** Whether the connection is up now; while it is down, a command waits for one retry and fails. */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Study ids with their creation time (ms), newest first. */
  async listStudies(offset: number, limit: number): Promise<{ id: string; createdMs: number }[]> {
    const flat = await this.redis.zrevrange(studiesKey(this.prefix), offset, offset + limit - 1, 'WITHSCORES');
    const out: { id: string; createdMs: number }[] = [];
    for (let k = 0; k + 1 < flat.length; k += 2) out.push({ id: flat[k]!, createdMs: Number(flat[k + 1]) });
    return out;
  }

  async countStudies(): Promise<number> {
    return this.redis.zcard(studiesKey(this.prefix));
  }

  /** Whole study hashes (empty objects for studies Redis no longer has), in the order asked. */
  async readRecords(ids: readonly string[]): Promise<Record<string, string>[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(studyKey(this.prefix, id));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return (value ?? {}) as Record<string, string>;
    });
  }

  async readHead(id: string): Promise<StudyHead> {
    const [state, counts, cursor, endedAt] = await this.redis.hmget(
      studyKey(this.prefix, id),
      F.state,
      F.counts,
      F.cursor,
      F.endedAt,
    );
    return {
      state: state ?? undefined,
      counts: counts ?? undefined,
      cursor: cursor ?? undefined,
      endedAt: endedAt ?? undefined,
    };
  }

  /** Whether a conductor holds the study's lease, and what the hash says of the last one. */
  async readConductor(id: string): Promise<LeaseFacts> {
    return readConductorLease(this.redis, this.prefix, id);
  }

  /**
   * The packed instance records, `count` of them (zeroed where Redis has nothing), read in
   * STATE_READ_CHUNK_BYTES slices: one GET of a ten-million-instance study's 440 MB held as much
   * again in Redis's output buffer for this client (and over a gigabyte in this process, with
   * the copy), and kept Redis from answering anyone else while it was sent.
   */
  async readState(id: string, count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * STATE_RECORD_BYTES);
    const key = stateKey(this.prefix, id);
    for (let at = 0; at < out.length; at += STATE_READ_CHUNK_BYTES) {
      const end = Math.min(out.length, at + STATE_READ_CHUNK_BYTES);
      const part = await this.redis.getrangeBuffer(key, at, end - 1);
      out.set(part.subarray(0, end - at), at);
      if (part.length < end - at) break; // Redis has no more: the rest stays zeroed
    }
    return out;
  }

  /** Workers that ran steps of the study: name -> JSON {host, allocationId}. */
  async readStudyWorkers(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(studyWorkersKey(this.prefix, id));
  }

  /** Heartbeat hashes of the named workers (empty objects for workers whose record expired). */
  async readWorkerRecords(names: readonly string[]): Promise<Record<string, string>[]> {
    if (names.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const n of names) pipe.hgetall(workerKey(this.prefix, n));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return (value ?? {}) as Record<string, string>;
    });
  }

  /** Names of workers seen since `sinceMs` (their last heartbeat), newest first. */
  async recentWorkers(sinceMs: number, limit: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(workersKey(this.prefix), '+inf', sinceMs, 'LIMIT', 0, limit);
  }
}
