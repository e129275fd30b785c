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
import { redactUrl } from '@maestro/secrets';

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
    // Reconnect quickly and steadily: BullMQ's default backoff left workers idle for up to 18 s
    // after a 40 s outage (bullmq-facts.md); a constant short delay resumes within about a second.
    retryStrategy: () => 500,
  };
  if (u.protocol === 'redis+unix:' || u.protocol === 'unix:')
    return { ...common, path: decodeURIComponent(u.pathname) };
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    ...common,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db: Number.isInteger(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? (config.tlsCa ? { ca: config.tlsCa } : {}) : undefined,
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

/** Node's codes for a TLS handshake that failed (OpenSSL verification results, ERR_TLS_*, ERR_SSL_*). */
const TLS_ERROR_CODE =
  /CERT|CRL|^UNABLE_TO_|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$|^ERR_TLS_|^ERR_SSL_|^EPROTO$/;

/**
 * What to tell the user about a connection error that waiting will not fix (refused credentials,
 * a TLS certificate that cannot be verified), as `--flag: problem`; undefined for errors worth
 * waiting out (Redis down or restarting).
 */
export function fatalConnectionError(
  err: Error,
  config: Pick<WorkerConfig, 'redisUrl' | 'redisPassword' | 'tlsCa'>,
): string | undefined {
  const where = `Redis at ${redactUrl(config.redisUrl)}`;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password|ERR AUTH/i.test(err.message)) {
    const flag = config.redisPassword === undefined ? '--redis' : '--redis-password-file';
    return `${flag}: ${where} refused the credentials: ${err.message}`;
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (config.redisUrl.startsWith('rediss:') && typeof code === 'string' && TLS_ERROR_CODE.test(code)) {
    const hint =
      code === 'EPROTO' || code.startsWith('ERR_SSL_')
        ? 'is it a TLS port?'
        : config.tlsCa
          ? "is it the CA that signed the server's certificate?"
          : "give the CA that signed the server's certificate with --tls-ca-file FILE";
    return `--tls-ca-file: ${where}: TLS connection failed: ${err.message} (${code}); ${hint}`;
  }
  return undefined;
}

/**
 * Connects once before the worker starts, to turn refused credentials or an untrusted
 * certificate into an error at once (the worker's own connections would retry them forever).
 * Waits as long as it takes for a Redis that is merely down. Resolves once Redis answered.
 */
export async function checkRedisAccess(config: RedisConnectionConfig): Promise<void> {
  const redis = makeRedis(config, 'commands');
  try {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', () => resolve());
      redis.on('error', (err: Error) => {
        const fatal = fatalConnectionError(err, config);
        if (fatal) reject(new Error(fatal));
      });
    });
  } finally {
    await closeRedis(redis);
  }
}
