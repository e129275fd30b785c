/**
 * The only place that creates Redis connections. The worker's connections wait forever for Redis
 * (`maxRetriesPerRequest: null`, as BullMQ requires of a worker): a batch job outliving a Redis
 * restart should resume, not crash.
 *
 * The URL is taken apart here and never handed to ioredis whole, so that the password travels
 * only in the `password` option and no library can echo the URL into an error message.
 */
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { maxClientsAdvice, parseRedisUrl, type RedisAddress } from '@maestro/protocol';
import type { WorkerConfig } from './config.js';
import { redactUrl } from '@maestro/secrets';
import { mayBeFull, refusedForMaxClients } from './redis-full.js';

/** A connection to one server, a primary found through sentinels, or a Redis Cluster. */
export type Redis = SingleRedis | Cluster;

/** What a connection is for; shows in `CLIENT LIST` as `maestro-worker:<name>:<role>`. */
export type RedisRole = 'commands' | 'subscriber';

export type RedisConnectionConfig = Pick<
  WorkerConfig,
  'redisUrl' | 'redisPassword' | 'sentinelPassword' | 'tlsCa' | 'name'
>;

// Reconnect quickly and steadily: BullMQ's default backoff left workers idle for up to 18 s
// after a 40 s outage (bullmq-facts.md); a constant short delay resumes within about a second.
const RETRY_MS = 500;

/** What every connection shares; a cluster retries through its own clusterRetryStrategy. */
function commonOptions(
  config: RedisConnectionConfig,
  address: RedisAddress,
  role: RedisRole,
): Omit<RedisOptions, 'retryStrategy'> {
  return {
    username: address.username,
    password: config.redisPassword ?? address.password,
    connectionName: `maestro-worker:${config.name}:${role}`,
    maxRetriesPerRequest: null,
    // After a failover the old primary, should it come back as a replica, refuses writes:
    // reconnect (through the sentinels) to whichever server is the primary now.
    reconnectOnError: (err) => (/READONLY/.test(err.message) ? 2 : false),
  };
}

/** Options for ioredis' `Redis` (one server, a socket, or a primary through its sentinels). */
export function toRedisOptions(config: RedisConnectionConfig, role: RedisRole): RedisOptions {
  const address = parseRedisUrl(config.redisUrl);
  const common: RedisOptions = { ...commonOptions(config, address, role), retryStrategy: () => RETRY_MS };
  const tls = config.tlsCa ? { ca: config.tlsCa } : {};
  switch (address.kind) {
    case 'unix':
      return { ...common, path: address.path };
    case 'server':
      return { ...common, host: address.host, port: address.port, db: address.db, tls: address.tls ? tls : undefined };
    case 'sentinel':
      return {
        ...common,
        sentinels: address.sentinels.map((e) => ({ host: e.host, port: e.port })),
        name: address.masterName,
        role: 'master',
        db: address.db,
        sentinelUsername: address.sentinelUsername,
        sentinelPassword: config.sentinelPassword ?? address.sentinelPassword,
        sentinelRetryStrategy: () => RETRY_MS,
        // Not ioredis' failoverDetector: when the sentinels announced the switch while a connection
        // was reconnecting, it closed that connection for good (ioredis 6.0.0, seen in
        // test/faults/redis-failover.fault.test.ts). A dead primary drops its connections anyway;
        // they reconnect through the sentinels, and READONLY from a demoted one does the same.
        failoverDetector: false,
        enableTLSForSentinelMode: address.tls,
        tls: address.tls ? tls : undefined,
        sentinelTLS: address.tls ? tls : undefined,
      };
    case 'cluster':
      throw new Error(`a cluster URL makes a Cluster, not one connection (${redactUrl(config.redisUrl)})`);
    default: {
      const never: never = address;
      return never;
    }
  }
}

/** Options for ioredis' `Cluster`: every node gets the common options (credentials, TLS). */
export function toClusterOptions(config: RedisConnectionConfig, role: RedisRole): ClusterOptions {
  const address = parseRedisUrl(config.redisUrl);
  return {
    redisOptions: {
      ...commonOptions(config, address, role),
      tls: address.kind === 'cluster' && address.tls ? (config.tlsCa ? { ca: config.tlsCa } : {}) : undefined,
    },
    clusterRetryStrategy: () => RETRY_MS,
    // BullMQ's workers block on one connection; never give up on a command during a reshard.
    maxRedirections: 64,
  };
}

export function makeRedis(config: RedisConnectionConfig, role: RedisRole): Redis {
  const address = parseRedisUrl(config.redisUrl);
  if (address.kind === 'cluster') {
    return new Cluster(
      address.nodes.map((e) => ({ host: e.host, port: e.port })),
      toClusterOptions(config, role),
    );
  }
  return new SingleRedis(toRedisOptions(config, role));
}

/**
 * Whether Redis refused a command with BUSY: another script has run past the server's
 * lua-time-limit. Redis runs nothing it answers BUSY, so the command may be sent again.
 */
export function isBusyReply(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('BUSY ');
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
  config: Pick<WorkerConfig, 'redisUrl' | 'redisPassword' | 'tlsCa'> & { sentinelPassword?: string | undefined },
): string | undefined {
  const where = `Redis at ${redactUrl(config.redisUrl)}`;
  const sentinels = sentinelRefusal(err);
  if (sentinels) {
    const flag = config.sentinelPassword === undefined ? '--redis' : '--sentinel-password-file';
    return `${flag}: the sentinels of ${where} refused their password (${sentinels}): give the sentinels' own password with --sentinel-password-file FILE or ?sentinelPassword= in the URL`;
  }
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
 * Connects once before the worker starts, to turn refused credentials, an untrusted certificate
 * or a server with no room for more clients (maxclients) into an error at once (the worker's own
 * connections would retry them forever). Waits as long as it takes for a Redis that is merely
 * down. Resolves once Redis answered.
 */
export async function checkRedisAccess(config: RedisConnectionConfig): Promise<void> {
  const redis = makeRedis(config, 'commands');
  let asking = false;
  try {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', () => resolve());
      redis.on('error', (err: Error) => {
        const fatal = fatalConnectionError(err, config);
        if (fatal) return reject(new Error(fatal));
        if (asking || !mayBeFull(err)) return;
        asking = true;
        void refusedForMaxClients(config).then((full) => {
          asking = false;
          if (full) reject(new Error(maxClientsAdvice(`Redis at ${redactUrl(config.redisUrl)}`)));
        });
      });
    });
  } finally {
    await closeRedis(redis);
  }
}
