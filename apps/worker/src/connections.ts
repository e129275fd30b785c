/**
 * The worker's two Redis connections: `commands` (the fence, presence, BullMQ) and `subscriber`
 * (the control channel, which a subscribed connection cannot share). Their errors are logged
 * at most once per throttle interval, and their recovery once. A connection the server keeps
 * dropping is checked for a full server (maxclients), which waiting may never fix: that is
 * logged as an error with what to do.
 */
import type { Logger } from 'pino';
import { maxClientsAdvice } from '@maestro/protocol';
import { redactUrl } from '@maestro/secrets';
import { closeRedis, makeRedis, type Redis, type RedisConnectionConfig, type RedisRole } from './redis.js';
import { mayBeFull, refusedForMaxClients } from './redis-full.js';
import { withTimeout } from './timers.js';

/** A dropped connection is checked for a full server at most this often. */
const FULL_CHECK_INTERVAL_MS = 30_000;

export interface Connections {
  readonly commands: Redis;
  readonly subscriber: Redis;
  /** Closes both, waiting at most `timeoutMs` for Redis; drops them if it does not answer. */
  close(timeoutMs: number): Promise<void>;
  /** Drops both at once (nothing was started on them yet). */
  disconnect(): void;
}

export function makeConnections(
  config: RedisConnectionConfig,
  log: Logger,
  warn: (write: () => void) => void,
): Connections {
  const commands = makeRedis(config, 'commands');
  const subscriber = makeRedis(config, 'subscriber');
  const full = fullServerCheck(config, log);
  watchConnection(commands, 'commands', log, warn, full);
  watchConnection(subscriber, 'subscriber', log, warn, full);
  const disconnect = (): void => {
    subscriber.disconnect();
    commands.disconnect();
  };
  return {
    commands,
    subscriber,
    async close(timeoutMs) {
      await Promise.all([
        withTimeout(closeRedis(subscriber), timeoutMs),
        withTimeout(closeRedis(commands), timeoutMs),
      ]).catch(disconnect);
    },
    disconnect,
  };
}

/** Asks, at most once per FULL_CHECK_INTERVAL_MS, whether a dropped connection met a full server. */
function fullServerCheck(config: RedisConnectionConfig, log: Logger): (err: Error) => void {
  let askedAt = -Infinity;
  return (err) => {
    if (!mayBeFull(err) || performance.now() - askedAt < FULL_CHECK_INTERVAL_MS) return;
    askedAt = performance.now();
    void refusedForMaxClients(config).then((full) => {
      if (full) log.error({ err }, maxClientsAdvice(`Redis at ${redactUrl(config.redisUrl)}`));
    });
  };
}

function watchConnection(
  redis: Redis,
  role: RedisRole,
  log: Logger,
  warn: (write: () => void) => void,
  checkFull: (err: Error) => void,
): void {
  let down = false;
  redis.on('error', (err: Error) => {
    down = true;
    warn(() => log.warn({ err, role }, 'redis connection error'));
    checkFull(err);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'redis connection restored');
  });
}
