/**
 * The only place the conductor creates Redis connections. URLs: `redis://[user:pass@]host:port[/db]`,
 * `rediss://` (TLS, with an optional CA file), and `redis+unix:///path/to/sock` for the embedded
 * server. Passwords may also come from a file, so they never need to be on a command line.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

export interface RedisTarget {
  /** The URL as given, credentials included. Never log it: use {@link redactUrl}. */
  readonly url: string;
  /** A password read from a file (overrides one in the URL). */
  readonly passwordFile?: string | undefined;
  /** CA certificate for rediss:// servers with a private CA. */
  readonly tlsCaFile?: string | undefined;
}

export type ConnectionRole =
  /** Short commands that should fail rather than hang when Redis is gone (CLI tools). */
  | 'command'
  /** Long-lived: waits through outages and reconnects (the conductor's own connections). */
  | 'durable';

/** `redis://user:***@host:port` — what may appear in logs and files. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** The password in a URL, if it holds one. */
export function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

/** The URL without its password, for meta files and batch scripts. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

export function redisOptions(target: RedisTarget, role: ConnectionRole): RedisOptions {
  const u = new URL(target.url);
  const password = target.passwordFile
    ? readFileSync(target.passwordFile, 'utf8').trim()
    : u.password
      ? decodeURIComponent(u.password)
      : undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const common: RedisOptions = {
    username,
    password,
    lazyConnect: false,
    enableReadyCheck: true,
    connectionName: 'maestro-conductor',
    // A constant, short retry resumes work ~1 s after Redis returns (bullmq-facts.md).
    retryStrategy: (times) => (role === 'command' && times > 5 ? null : Math.min(500, 50 * times)),
    maxRetriesPerRequest: role === 'durable' ? null : 3,
    reconnectOnError: (err) => /READONLY|LOADING/.test(err.message),
  };
  if (u.protocol === 'redis+unix:' || u.protocol === 'unix:') {
    return { ...common, path: decodeURIComponent(u.pathname) };
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(
      `unsupported Redis URL scheme '${u.protocol}' in ${redactUrl(target.url)}; use redis://, rediss:// or redis+unix://`,
    );
  }
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  return {
    ...common,
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: Number.isInteger(db) ? db : 0,
    tls:
      u.protocol === 'rediss:'
        ? { ca: target.tlsCaFile ? readFileSync(target.tlsCaFile) : undefined, servername: u.hostname }
        : undefined,
  };
}

/** Opens a connection; for 'command' connections, waits until it is ready or fails clearly. */
export async function connectRedis(target: RedisTarget, role: ConnectionRole): Promise<Redis> {
  const redis = new Redis(redisOptions(target, role));
  redis.on('error', () => {
    // Connection errors surface through commands and the 'ready' wait below; ioredis needs a
    // listener so that they are not thrown as unhandled 'error' events.
  });
  if (role === 'command' || redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onEnd = (): void => {
        cleanup();
        reject(new Error(`cannot reach Redis at ${redactUrl(target.url)}`));
      };
      const onError = (err: Error): void => {
        if (/NOAUTH|WRONGPASS|invalid password|ERR AUTH/i.test(err.message)) {
          cleanup();
          redis.disconnect();
          reject(new Error(`Redis at ${redactUrl(target.url)} refused the credentials: ${err.message}`));
        }
      };
      const cleanup = (): void => {
        redis.off('ready', onReady);
        redis.off('end', onEnd);
        redis.off('error', onError);
      };
      redis.once('ready', onReady);
      redis.once('end', onEnd);
      redis.on('error', onError);
    });
  }
  return redis;
}
