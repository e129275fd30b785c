/**
 * The conductor's own state in Redis (keys in @maestro/protocol keys.ts). Every write goes
 * through one Lua script that first checks the conductor still holds the study's lease, so a
 * conductor that froze or was replaced can never overwrite the state of the one that took over.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  CONTROL_FIELD,
  ControlRequest,
  controlChannel,
  controlKey,
  EVENT_FIELD,
  eventsKey,
  fenceKey,
  leaseKey,
  STATE_RECORD_BYTES,
  stateKey,
  parseStepEvent,
  type StepEvent,
  studiesKey,
  studyKey,
  type WorkerSignal,
} from '@maestro/protocol';
import type { Redis } from './connection.js';

/** KEYS: lease, study hash, state string, fence hash. ARGV: token, nFields, field/value..., nRanges, offset/bytes..., fence fields to delete... */
const COMMIT_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASE_LOST') end
local i = 2
local nf = tonumber(ARGV[i]); i = i + 1
for _ = 1, nf do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2
end
local nr = tonumber(ARGV[i]); i = i + 1
for _ = 1, nr do
  redis.call('SETRANGE', KEYS[3], tonumber(ARGV[i]), ARGV[i + 1]); i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[4], ARGV[i]); i = i + 1
end
return 1
`;

/**
 * Extends our lease, or takes it back if it expired meanwhile (Redis frozen or restarted), and
 * notes the time in the study hash (heartbeatAt: when the study last had a conductor). Only in a
 * hash that exists: a Redis that lost the study must still look that way to the conductor.
 * KEYS: lease, study hash. ARGV: token, ttl ms, now ms.
 */
const RENEW_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if holder then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3]) end
return 1
`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Fence entries asked for per HSCAN page (claimedAttempts). */
const FENCE_SCAN_COUNT = 1000;

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor() {
    super(
      'this conductor lost the study lease (it was paused too long, or another conductor took the study over); stopping',
    );
  }
}

export interface Commit {
  /** Study hash fields to set. */
  readonly fields: Readonly<Record<string, string>>;
  /** Byte ranges of the packed state to write: [offset, bytes]. */
  readonly ranges: readonly (readonly [number, Uint8Array])[];
  /** Fence fields (instance indices) to delete: their instances are final. */
  readonly fenceDeletes: readonly number[];
}

export interface ReadBatch {
  readonly events: { id: string; event: StepEvent }[];
  readonly controls: { id: string; request: ControlRequest }[];
  /** Entries that did not parse: logged and skipped. */
  readonly invalid: { stream: 'events' | 'control'; id: string; error: string }[];
  readonly lastEventId: string | undefined;
  readonly lastControlId: string | undefined;
}

type CustomCommands = {
  maestroCommit(...keysThenArgs: (string | Buffer)[]): Promise<number>;
  maestroRenew(lease: string, study: string, token: string, ttl: number, nowMs: number): Promise<number>;
  maestroRelease(lease: string, token: string): Promise<number>;
};

export class StudyStore {
  readonly token = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  readonly keys;

  constructor(
    /** Commands and writes: never blocked. */
    private readonly redis: Redis,
    /** Blocking reads of the streams (XREAD BLOCK) only. */
    private readonly reader: Redis,
    readonly prefix: string,
    readonly studyId: string,
  ) {
    this.keys = {
      study: studyKey(prefix, studyId),
      state: stateKey(prefix, studyId),
      events: eventsKey(prefix, studyId),
      control: controlKey(prefix, studyId),
      fence: fenceKey(prefix, studyId),
      lease: leaseKey(prefix, studyId),
      studies: studiesKey(prefix),
    };
    if (!('maestroCommit' in redis)) {
      redis.defineCommand('maestroCommit', { numberOfKeys: 4, lua: COMMIT_LUA });
      redis.defineCommand('maestroRenew', { numberOfKeys: 2, lua: RENEW_LUA });
      redis.defineCommand('maestroRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    }
  }

  get #cmd(): Redis & CustomCommands {
    return this.redis as Redis & CustomCommands;
  }

  /** Takes the lease if free; otherwise returns who holds it. */
  async acquireLease(ttlMs: number): Promise<{ acquired: true } | { acquired: false; holder: string; ttlMs: number }> {
    const ok = await this.redis.set(this.keys.lease, this.token, 'PX', ttlMs, 'NX');
    if (ok === 'OK') return { acquired: true };
    const [holder, ttl] = await Promise.all([this.redis.get(this.keys.lease), this.redis.pttl(this.keys.lease)]);
    return { acquired: false, holder: holder ?? 'unknown', ttlMs: ttl };
  }

  /** Extends the lease, or takes it back if it lapsed; false only if another conductor holds it. */
  async renewLease(ttlMs: number): Promise<boolean> {
    return (await this.#cmd.maestroRenew(this.keys.lease, this.keys.study, this.token, ttlMs, Date.now())) === 1;
  }

  async releaseLease(): Promise<void> {
    await this.#cmd.maestroRelease(this.keys.lease, this.token);
  }

  /** False when Redis lost the study (restarted without its data). */
  async exists(): Promise<boolean> {
    return (await this.redis.exists(this.keys.study)) === 1;
  }

  /**
   * The id of the newest entry each stream ever had (XINFO's last-generated-id, kept when entries
   * are trimmed), `0-0` for a stream this server does not have.
   */
  async lastStreamIds(): Promise<{ events: string; control: string }> {
    const last = async (key: string): Promise<string> => {
      try {
        const info = (await this.redis.xinfo('STREAM', key)) as unknown[];
        const k = info.indexOf('last-generated-id');
        return k >= 0 ? String(info[k + 1]) : '0-0';
      } catch (err) {
        if (err instanceof Error && /no such key/i.test(err.message)) return '0-0';
        throw err;
      }
    };
    return { events: await last(this.keys.events), control: await last(this.keys.control) };
  }

  async readRecord(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.study);
  }

  /** The packed state, `count` records long (zero records where Redis has nothing). */
  async readState(count: number): Promise<Uint8Array> {
    const buf = await this.redis.getBuffer(this.keys.state);
    const out = new Uint8Array(count * STATE_RECORD_BYTES);
    if (buf) out.set(buf.subarray(0, out.length));
    return out;
  }

  /** Registers a new study: its record, a zeroed state of `count` records, its place in the list. */
  async create(count: number, fields: Record<string, string>, createdMs: number): Promise<void> {
    const multi = this.redis.multi();
    multi.hset(this.keys.study, fields);
    if (count > 0) multi.setrange(this.keys.state, count * STATE_RECORD_BYTES - 1, '\0');
    multi.zadd(this.keys.studies, createdMs, this.studyId);
    await multi.exec();
  }

  /** Lists the study again (after Redis lost its data). */
  async register(createdMs: number): Promise<void> {
    await this.redis.zadd(this.keys.studies, createdMs, this.studyId);
  }

  /**
   * Writes a batch of changes atomically, if the lease is still ours. A lease that simply
   * expired (Redis frozen or restarted longer than its time to live) is taken back if nobody
   * else took it; a lease held by another conductor ends this one (LeaseLostError).
   */
  async commit(c: Commit, ttlMs: number): Promise<void> {
    try {
      await this.#commitOnce(c);
    } catch (err) {
      if (!(err instanceof LeaseLostError) || !(await this.renewLease(ttlMs))) throw err;
      await this.#commitOnce(c);
    }
  }

  async #commitOnce(c: Commit): Promise<void> {
    const args: (string | Buffer)[] = [this.token];
    const fields = Object.entries(c.fields);
    args.push(String(fields.length));
    for (const [k, v] of fields) args.push(k, v);
    args.push(String(c.ranges.length));
    for (const [offset, bytes] of c.ranges)
      args.push(String(offset), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    for (const i of c.fenceDeletes) args.push(String(i));
    try {
      await this.#cmd.maestroCommit(this.keys.lease, this.keys.study, this.keys.state, this.keys.fence, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.includes('LEASE_LOST')) throw new LeaseLostError();
      throw err;
    }
  }

  /** Events and control requests after the given ids; waits up to `blockMs` if given and there are none. */
  async read(
    eventCursor: string,
    controlCursor: string,
    blockMs: number | undefined,
    count: number,
  ): Promise<ReadBatch> {
    const streams = ['STREAMS', this.keys.events, this.keys.control, eventCursor, controlCursor] as const;
    const reply = (
      blockMs === undefined
        ? await this.redis.xread('COUNT', count, ...streams)
        : await this.reader.xread('COUNT', count, 'BLOCK', blockMs, ...streams)
    ) as [string, [string, string[]][]][] | null;
    const batch: ReadBatch = {
      events: [],
      controls: [],
      invalid: [],
      lastEventId: undefined,
      lastControlId: undefined,
    };
    const mutable = batch as { -readonly [K in keyof ReadBatch]: ReadBatch[K] };
    for (const [key, entries] of reply ?? []) {
      const isEvents = key === this.keys.events;
      for (const [id, fields] of entries) {
        if (isEvents) mutable.lastEventId = id;
        else mutable.lastControlId = id;
        const json = fieldOf(fields, isEvents ? EVENT_FIELD : CONTROL_FIELD);
        try {
          const value: unknown = JSON.parse(json ?? '');
          if (isEvents) batch.events.push({ id, event: parseStepEvent(value) });
          else batch.controls.push({ id, request: ControlRequest.parse(value) });
        } catch (err) {
          batch.invalid.push({
            stream: isEvents ? 'events' : 'control',
            id,
            error: (err as Error).message.slice(0, 300),
          });
        }
      }
    }
    return batch;
  }

  /**
   * Drops stream entries the committed state already reflects. `LIMIT 0`: an approximate trim
   * (`~`) otherwise removes at most 100 macro nodes (10,000 entries) per call, and a study that
   * reports faster than 2,000 events a second between trims (every TRIM_EVERY_MS) kept its
   * whole stream: 155 bytes of Redis per instance at a million.
   */
  async trim(eventCursor: string, controlCursor: string): Promise<void> {
    const multi = this.redis.multi();
    if (eventCursor !== '0') multi.xtrim(this.keys.events, 'MINID', '~', eventCursor, 'LIMIT', 0);
    if (controlCursor !== '0') multi.xtrim(this.keys.control, 'MINID', '~', controlCursor, 'LIMIT', 0);
    await multi.exec();
  }

  async signalWorkers(signal: WorkerSignal): Promise<void> {
    await this.redis.publish(controlChannel(this.prefix), JSON.stringify(signal));
  }

  /**
   * The attempt of each instance's newest claim, from the fence (fence-scripts.ts: field index,
   * value `attempt:run:done`). Instances that ended have no entry (their commit deleted it).
   * Read in pages (HSCAN), since the fence holds one entry per instance in flight.
   */
  async claimedAttempts(): Promise<Map<number, number>> {
    const claimed = new Map<number, number>();
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys.fence, cursor, 'COUNT', FENCE_SCAN_COUNT);
      for (let k = 0; k + 1 < flat.length; k += 2) {
        const attempt = Number.parseInt(flat[k + 1]!, 10);
        if (Number.isInteger(attempt)) claimed.set(Number(flat[k]), attempt);
      }
      cursor = next;
    } while (cursor !== '0');
    return claimed;
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let k = 0; k + 1 < fields.length; k += 2) if (fields[k] === name) return fields[k + 1];
  return undefined;
}
