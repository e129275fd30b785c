/**
 * The only place the conductor creates Redis connections. URLs (read by @maestro/protocol's
 * parseRedisUrl): `redis://[user:pass@]host:port[/db]`, `rediss://` (TLS, with an optional CA
 * file), `redis+unix:///path/to/sock` for the embedded server, `redis+sentinel://` (a primary
 * found through its sentinels, followed across failovers) and `redis+cluster://` (seed nodes).
 * Passwords may also come from a file, so they never need to be on a command line.
 */
import { readFileSync } from 'node:fs';
import { parseRedisUrl, type RedisAddress } from '@maestro/protocol';
import { redactUrl, urlSecrets } from '@maestro/secrets';
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A connection to one server, a primary found through sentinels, or a Redis Cluster. */
export type Redis = SingleRedis | Cluster;

export interface RedisTarget {
  /** The URL as given, credentials included. Never log it: use {@link redactUrl}. */
  readonly url: string;
  /** A password read from a file (overrides one in the URL). */
  readonly passwordFile?: string | undefined;
  /** The sentinels' own password, read from a file (overrides `?sentinelPassword=` in the URL). */
  readonly sentinelPasswordFile?: string | undefined;
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
  const secrets = urlSecrets(target.url);
  for (const file of [target.passwordFile, target.sentinelPasswordFile]) {
    if (!file) continue;
    try {
      const pw = readFileSync(file, 'utf8').trim();
      if (pw) secrets.push(pw);
    } catch {
      // reported when connecting
    }
  }
  return secrets;
}

/**
 * The error code when the sentinels refused us (ioredis tried each one and says "All sentinels are
 * unreachable ... Last error: WRONGPASS ..."), or undefined. A sentinel without a password also
 * refuses one it is given ("ERR AUTH ... called without any password configured").
 */
export function sentinelRefusal(err: Error): string | undefined {
  const m = /^All sentinels are unreachable.*Last error: (.*)$/s.exec(err.message);
  if (!m) return undefined;
  const last = m[1]!;
  if (/WRONGPASS|invalid password|invalid username-password/i.test(last)) return 'WRONGPASS';
  if (/NOAUTH/.test(last)) return 'NOAUTH: a password is needed';
  if (/AUTH.*without any password configured/i.test(last)) return 'they have no password';
  return undefined;
}

/** What to say when no sentinel of a redis+sentinel:// URL answered, or undefined for other errors. */
export function noSentinelReached(err: Error, target: RedisTarget): string | undefined {
  if (!/^All sentinels are unreachable/.test(err.message) || sentinelRefusal(err)) return undefined;
  // ioredis reports a refused connection to a sentinel as "Connection is closed.": no news.
  const last = /Last error: (.*)$/s.exec(err.message)?.[1]?.trim();
  const why = last && !/^Connection is closed/.test(last) ? ` (${last})` : '';
  return `no sentinel of ${redactUrl(target.url)} answered${why}: check the sentinels' addresses and the primary's name in --redis, and that the sentinels run`;
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
  const sentinels = sentinelRefusal(err);
  if (sentinels) {
    return `the sentinels of ${where} refused their password (${sentinels}): give the sentinels' own password with --sentinel-password-file FILE or ?sentinelPassword= in the URL`;
  }
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password|ERR AUTH/i.test(err.message)) {
    return `${where} refused the credentials: ${err.message} (give the password with --redis-password-file FILE or in the URL)`;
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (/^rediss[:+]/.test(target.url) && typeof code === 'string' && TLS_ERROR_CODE.test(code)) {
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

/** What every connection of `role` shares, credentials included; a cluster adds its own retries. */
function commonOptions(
  target: RedisTarget,
  address: RedisAddress,
  role: ConnectionRole,
): Omit<RedisOptions, 'retryStrategy'> {
  const password = target.passwordFile
    ? readOptionFile('--redis-password-file', target.passwordFile).trim()
    : address.password;
  return {
    username: address.username,
    password,
    lazyConnect: false,
    enableReadyCheck: true,
    connectionName: role === 'viewer' ? 'maestro-dashboard' : 'maestro-conductor',
    maxRetriesPerRequest: role === 'durable' ? null : role === 'viewer' ? 1 : 3,
    // READONLY: the server we reach was demoted (a failover): reconnect, through the sentinels
    // when there are, to the primary; LOADING: a restarted server is still reading its file.
    reconnectOnError: (err) => (/READONLY|LOADING/.test(err.message) ? 2 : false),
  };
}

/** A constant, short retry resumes work ~1 s after Redis returns (bullmq-facts.md). */
function retryStrategy(role: ConnectionRole): (times: number) => number | null {
  return (times) => (role === 'command' && times > 5 ? null : Math.min(500, 50 * times));
}

function tlsOptions(target: RedisTarget, servername: string | undefined): RedisOptions['tls'] {
  return {
    ca: target.tlsCaFile ? readOptionFile('--tls-ca-file', target.tlsCaFile) : undefined,
    ...(servername ? { servername } : {}),
  };
}

/** Options for ioredis' `Redis`: one server, a socket, or a primary through its sentinels. */
export function redisOptions(target: RedisTarget, role: ConnectionRole): RedisOptions {
  const address = parseRedisUrl(target.url);
  const common: RedisOptions = { ...commonOptions(target, address, role), retryStrategy: retryStrategy(role) };
  switch (address.kind) {
    case 'unix':
      return { ...common, path: address.path };
    case 'server':
      return {
        ...common,
        host: address.host,
        port: address.port,
        db: address.db,
        tls: address.tls ? tlsOptions(target, address.host) : undefined,
      };
    case 'sentinel': {
      const tls = address.tls ? tlsOptions(target, undefined) : undefined;
      return {
        ...common,
        sentinels: address.sentinels.map((e) => ({ host: e.host, port: e.port })),
        name: address.masterName,
        role: 'master',
        db: address.db,
        sentinelUsername: address.sentinelUsername,
        sentinelPassword: target.sentinelPasswordFile
          ? readOptionFile('--sentinel-password-file', target.sentinelPasswordFile).trim()
          : address.sentinelPassword,
        // Every sentinel is tried each round; a 'command' connection gives up after a few rounds.
        sentinelRetryStrategy: retryStrategy(role),
        // Not ioredis' failoverDetector: when the sentinels announced the switch while a connection
        // was reconnecting, it closed that connection for good (ioredis 6.0.0, seen in
        // test/faults/redis-failover.fault.test.ts). A dead primary drops its connections anyway;
        // they reconnect through the sentinels, and READONLY from a demoted one does the same.
        failoverDetector: false,
        enableTLSForSentinelMode: address.tls,
        tls,
        sentinelTLS: tls,
      };
    }
    case 'cluster':
      throw new RedisConnectionError(`${redactUrl(target.url)} is a cluster: open it with clusterOptions`);
    default: {
      const never: never = address;
      return never;
    }
  }
}

/** Options for ioredis' `Cluster`: every node gets the credentials and TLS. */
export function clusterOptions(target: RedisTarget, role: ConnectionRole): ClusterOptions {
  const address = parseRedisUrl(target.url);
  return {
    redisOptions: {
      ...commonOptions(target, address, role),
      tls: address.kind === 'cluster' && address.tls ? tlsOptions(target, undefined) : undefined,
    },
    clusterRetryStrategy: retryStrategy(role),
    maxRedirections: 64,
  };
}

/**
 * A connection of any form, not yet waited for. `extra` overrides the options of `role`; for a
 * cluster, its retry strategy and offline queue apply to the cluster, the rest to every node.
 */
export function makeRedis(target: RedisTarget, role: ConnectionRole, extra: Partial<RedisOptions> = {}): Redis {
  const address = parseRedisUrl(target.url);
  if (address.kind !== 'cluster') return new SingleRedis({ ...redisOptions(target, role), ...extra });
  // Where a node is comes from the cluster, never from `extra`.
  const { retryStrategy: retry, enableOfflineQueue, lazyConnect, ...rest } = extra;
  const perNode: Partial<RedisOptions> = { ...rest };
  delete perNode.host;
  delete perNode.port;
  delete perNode.path;
  const options = clusterOptions(target, role);
  return new Cluster(
    address.nodes.map((e) => ({ host: e.host, port: e.port })),
    {
      ...options,
      ...(retry !== undefined ? { clusterRetryStrategy: retry } : {}),
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      lazyConnect: lazyConnect ?? false,
      redisOptions: { ...options.redisOptions, ...perNode },
    },
  );
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
  const redis = makeRedis(target, role);
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
          (role !== 'durable' ? noSentinelReached(err, target) : undefined) ??
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
