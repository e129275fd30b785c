/**
 * The only place the conductor creates Redis connections. URLs: `redis://[user:pass@]host:port[/db]`,
 * `rediss://` (TLS, with an optional CA file), and `redis+unix:///path/to/sock` for the embedded
 * server. Passwords may also come from a file, so they never need to be on a command line.
 */
import { readFileSync } from 'node:fs';
import { redactUrl } from '@maestro/secrets';
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
  | 'durable'
  /**
   * Long-lived but impatient (the dashboard): reconnects forever, yet a command fails after one
   * retry so that a web request reports "Redis is unreachable" instead of hanging.
   */
  | 'viewer';

/** Why a file named by an option cannot be read: `--tls-ca-file: cannot read F: ENOENT (...)`. */
function readOptionFile(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RedisConnectionError(
      `${option}: cannot read ${file}: ${e.code ?? e.message}${e.code ? ` (${describeErrno(e)})` : ''}`,
    );
  }
}

function describeErrno(e: NodeJS.ErrnoException): string {
  // "ENOENT: no such file or directory, open '/x'" -> "no such file or directory"
  return e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
}

/**
 * Every secret a connection to `target` uses (the password, from the URL or its file), for
 * scrubbing log lines. Never throws: a file that cannot be read holds no secret we know.
 */
export function redisSecrets(target: RedisTarget): string[] {
  const secrets: string[] = [];
  try {
    const pw = new URL(target.url).password;
    if (pw) secrets.push(decodeURIComponent(pw));
  } catch {
    // not a URL: nothing to take from it
  }
  if (target.passwordFile) {
    try {
      const pw = readFileSync(target.passwordFile, 'utf8').trim();
      if (pw) secrets.push(pw);
    } catch {
      // reported when connecting
    }
  }
  return secrets;
}

/** Node's codes for a TLS handshake that failed (OpenSSL verification results, ERR_TLS_*, ERR_SSL_*). */
const TLS_ERROR_CODE =
  /CERT|CRL|^UNABLE_TO_|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$|^ERR_TLS_|^ERR_SSL_|^EPROTO$/;

/**
 * What to tell the user about a connection error that waiting will not fix (refused
 * credentials, a TLS certificate that cannot be verified), or undefined for errors worth
 * retrying (the server is down or restarting).
 */
export function fatalConnectionError(err: Error, target: RedisTarget): string | undefined {
  const where = `Redis at ${redactUrl(target.url)}`;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password|ERR AUTH/i.test(err.message)) {
    return `${where} refused the credentials: ${err.message} (give the password with --redis-password-file FILE or in the URL)`;
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (target.url.startsWith('rediss:') && typeof code === 'string' && TLS_ERROR_CODE.test(code)) {
    const hint =
      code === 'EPROTO' || code.startsWith('ERR_SSL_')
        ? 'is it a TLS port?'
        : target.tlsCaFile
          ? `is ${target.tlsCaFile} the CA that signed the server's certificate?`
          : "give the CA that signed the server's certificate with --tls-ca-file FILE (or MAESTRO_REDIS_TLS_CA_FILE)";
    return `${where}: TLS connection failed: ${err.message} (${code}); ${hint}`;
  }
  return undefined;
}

/**
 * What to tell the user, in one sentence with what to do, about a Redis reply that stops a study
 * (`where` names the server: "Redis at redis://host:6379"), or undefined for any other error. The
 * codes are Redis's own, the first word of its error replies (inside a script's error too):
 * MISCONF (it cannot write its append-only file or snapshot: a full or read-only disk), OOM
 * (`maxmemory` reached under `noeviction`), NOAUTH/WRONGPASS (credentials refused).
 */
export function describeRedisError(err: unknown, where: string): string | undefined {
  // A transaction refused whole (EXECABORT) carries the errors of its commands.
  const previous = (err as { previousErrors?: unknown[] } | undefined)?.previousErrors;
  if (Array.isArray(previous)) {
    for (const e of previous) {
      const said = describeRedisError(e, where);
      if (said) return said;
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  // What Redis said after its code, without the script location it may add.
  const said = (code: string): string =>
    message
      .slice(message.indexOf(code) + code.length)
      .replace(/\s*script: .*$/s, '')
      .trim()
      .replace(/[.\s]+$/, '');
  if (/\bMISCONF\b/.test(message)) {
    return `${where} refuses every write because it cannot save to its disk (it said: ${said('MISCONF')}): free space on that disk, or make it writable`;
  }
  if (/\bOOM\b/.test(message)) {
    return `${where} is out of memory and refuses every write (it said: ${said('OOM')}): raise its maxmemory (CONFIG SET maxmemory) or free memory in it`;
  }
  if (/\b(NOAUTH|WRONGPASS)\b/.test(message)) {
    return `${where} refused the credentials (${/WRONGPASS/.test(message) ? 'WRONGPASS' : 'NOAUTH'}): give the password with --redis-password-file FILE or in the URL`;
  }
  return undefined;
}

export function redisOptions(target: RedisTarget, role: ConnectionRole): RedisOptions {
  const u = new URL(target.url);
  const password = target.passwordFile
    ? readOptionFile('--redis-password-file', target.passwordFile).trim()
    : u.password
      ? decodeURIComponent(u.password)
      : undefined;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const common: RedisOptions = {
    username,
    password,
    lazyConnect: false,
    enableReadyCheck: true,
    connectionName: role === 'viewer' ? 'maestro-dashboard' : 'maestro-conductor',
    // A constant, short retry resumes work ~1 s after Redis returns (bullmq-facts.md).
    retryStrategy: (times) => (role === 'command' && times > 5 ? null : Math.min(500, 50 * times)),
    maxRetriesPerRequest: role === 'durable' ? null : role === 'viewer' ? 1 : 3,
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
        ? {
            ca: target.tlsCaFile ? readOptionFile('--tls-ca-file', target.tlsCaFile) : undefined,
            servername: u.hostname,
          }
        : undefined,
  };
}

/** A connection that could not be opened; the message names the server (without password) and why. */
export class RedisConnectionError extends Error {
  override readonly name = 'RedisConnectionError';
}

/**
 * Opens a connection and waits until it is ready. Fails clearly on refused credentials or an
 * untrusted certificate; a server that cannot be reached fails 'command' connections after a few
 * tries and is waited for by 'durable' ones.
 */
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
        reject(new RedisConnectionError(`cannot reach Redis at ${redactUrl(target.url)}`));
      };
      const onError = (err: Error): void => {
        // Credentials and certificates do not get better by waiting: fail now, even for durable
        // connections, instead of retrying forever in silence. A dashboard (viewer) started
        // against a wrong address should say so now, too.
        const fatal =
          fatalConnectionError(err, target) ??
          (role === 'viewer' ? `cannot reach Redis at ${redactUrl(target.url)}: ${err.message}` : undefined);
        if (fatal) {
          cleanup();
          redis.disconnect();
          reject(new RedisConnectionError(fatal));
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
