/**
 * The worker's two Redis connections: `commands` (the fence, presence, BullMQ) and `subscriber`
 * (the control channel, which a subscribed connection cannot share). Their errors are logged
 * at most once per throttle interval, and their recovery once.
 */
import type { Logger } from 'pino';
import { closeRedis, makeRedis, type Redis, type RedisConnectionConfig, type RedisRole } from './redis.js';
import { withTimeout } from './timers.js';

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
  watchConnection(commands, 'commands', log, warn);
  watchConnection(subscriber, 'subscriber', log, warn);
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

function watchConnection(redis: Redis, role: RedisRole, log: Logger, warn: (write: () => void) => void): void {
  let down = false;
  redis.on('error', (err: Error) => {
    down = true;
    warn(() => log.warn({ err, role }, 'redis connection error'));
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'redis connection restored');
  });
}
