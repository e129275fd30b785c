/**
 * Whether a conductor drives a study, as Redis knows it: the study's lease (a key with a time to
 * live that only a live conductor renews) and what the study hash says of its last conductor.
 * Read-only. Also a connection for a quick look that gives up at once when Redis is not there
 * (`maestro status` must answer from the files then, not wait).
 */
import { leaseKey, studyKey, StudyRecordField as F } from '@maestro/protocol';
import { makeRedis, type Redis, type RedisTarget } from './connection.js';

/** What Redis says about a study's conductor. */
export interface LeaseFacts {
  /** The lease's token, `host:pid:random`, or null when no conductor holds it. */
  readonly holder: string | null;
  /** The study's state in its hash (undefined when Redis has no record of the study). */
  readonly state: string | undefined;
  /** `host:pid` of the conductor that last drove it. */
  readonly conductor: string | undefined;
  /** Epoch ms of the last lease renewal. */
  readonly heartbeatMs: number | undefined;
}

export async function readConductorLease(redis: Redis, prefix: string, studyId: string): Promise<LeaseFacts> {
  const [holder, fields] = await Promise.all([
    redis.get(leaseKey(prefix, studyId)),
    redis.hmget(studyKey(prefix, studyId), F.state, F.conductor, F.heartbeatAt),
  ]);
  const [state, conductor, heartbeat] = fields;
  const heartbeatMs = heartbeat ? Number(heartbeat) : NaN;
  return {
    holder: holder ?? null,
    state: state ?? undefined,
    conductor: conductor ?? undefined,
    heartbeatMs: Number.isFinite(heartbeatMs) ? heartbeatMs : undefined,
  };
}

/**
 * A connection for short looks: one try within `timeoutMs`, no reconnecting, commands fail at
 * once when it is down. Undefined when Redis cannot be reached or refuses us.
 */
export async function openQuickRedis(target: RedisTarget, timeoutMs: number): Promise<Redis | undefined> {
  let redis: Redis;
  try {
    redis = makeRedis(target, 'command', {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectionName: 'maestro-status',
      // Sentinels that do not answer: one round only, as for one server.
      sentinelRetryStrategy: () => null,
    });
  } catch {
    return undefined; // a password file that cannot be read: no Redis for this look
  }
  redis.on('error', () => {
    // Reported by connect() below or by the commands that fail; needed so nothing is thrown.
  });
  const timer = setTimeout(() => redis.disconnect(), timeoutMs);
  try {
    await redis.connect();
    return redis;
  } catch {
    redis.disconnect();
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
