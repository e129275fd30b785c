/**
 * The only place that creates Redis connections. The worker's connections wait forever for Redis
 * (`maxRetriesPerRequest: null`, as BullMQ requires of a worker): a batch job outliving a Redis
 * restart should resume, not crash.
 *
 * The URL is taken apart here and never handed to ioredis whole, so that the password travels
 * only in the `password` option and no library can echo the URL into an error message.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { WorkerConfig } from './config.js';

export type { Redis } from 'ioredis';

/** What a connection is for; shows in `CLIENT LIST` as `maestro-worker:<name>:<role>`. */
export type RedisRole = 'commands' | 'subscriber';

export type RedisConnectionConfig = Pick<WorkerConfig, 'redisUrl' | 'redisPassword' | 'tlsCa' | 'name'>;

export function toRedisOptions(config: RedisConnectionConfig, role: RedisRole): RedisOptions {
  const u = new URL(config.redisUrl);
  const common = {
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: config.redisPassword ?? (u.password ? decodeURIComponent(u.password) : undefined),
    connectionName: `maestro-worker:${config.name}:${role}`,
    maxRetriesPerRequest: null,
    retryStrategy: () => 500,
  };
  if (u.protocol === 'redis+unix:' || u.protocol === 'unix:')
    return { ...common, path: decodeURIComponent(u.pathname) };
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: config.redisPassword ?? (u.password ? decodeURIComponent(u.password) : undefined),
    db: Number.isInteger(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? (config.tlsCa ? { ca: config.tlsCa } : {}) : undefined,
    connectionName: `maestro-worker:${config.name}:${role}`,
    maxRetriesPerRequest: null,
    // Reconnect quickly and steadily: BullMQ's default backoff left workers idle for up to 18 s
    // after a 40 s outage (bullmq-facts.md); a constant short delay resumes within about a second.
    retryStrategy: () => 500,
  };
}

export function makeRedis(config: RedisConnectionConfig, role: RedisRole): Redis {
  return new Redis(toRedisOptions(config, role));
}

/** QUIT if connected, else disconnect; never throws. */
export async function closeRedis(redis: Redis): Promise<void> {
  try {
    if (redis.status === 'ready') await redis.quit();
    else redis.disconnect();
  } catch {
    redis.disconnect();
  }
}
