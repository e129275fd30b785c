/**
 * Watches the Redis a running study depends on, and says once, in one sentence, that it is lost:
 * - the study's own redis-server exited without being asked to (SIGKILL, the OOM killer): at
 *   once, with the last lines of its log;
 * - any Redis that has not answered a PING for `timeoutMs` (gone, frozen, unreachable): a
 *   warning after `warnAfterMs`, so that nobody waits in silence, then lost;
 * - credentials refused when the connection comes back (the password changed): at once.
 * What to do about a lost Redis is the caller's (StopSequence.lost).
 */
import type { Logger } from 'pino';
import type { EmbeddedRedis, Redis, RedisExit, RedisTarget } from '../redis/index.js';
import { fatalConnectionError } from '../redis/index.js';
import { formatDuration } from '../status/index.js';

export interface RedisWatchOptions {
  /** A long-lived connection of the conductor's: pinged, and its errors looked at. */
  readonly redis: Redis;
  readonly target: RedisTarget;
  /** The study's own server, when this process started it. */
  readonly embedded: EmbeddedRedis | undefined;
  /** How the server is named in messages: "the study's redis-server", "Redis at redis://h:6379". */
  readonly where: string;
  /** Silence after which Redis counts as lost (`--redis-timeout`); 0 waits for ever. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** `reason`: one sentence; `details`: lines to show after it (the server's last log lines). */
  readonly onLost: (reason: string, details?: string) => void;
  /** @default 1000 */
  readonly pingEveryMs?: number;
  /** @default 10_000 (or the timeout, if shorter) */
  readonly warnAfterMs?: number;
}

export class RedisWatch {
  #timer: NodeJS.Timeout | undefined;
  #lastAnswerMs = Date.now();
  #pinging = false;
  #warned = false;
  #closed = false;
  readonly #onError = (err: Error): void => {
    const fatal = fatalConnectionError(err, this.o.target);
    if (fatal) this.#lose(fatal);
  };

  constructor(private readonly o: RedisWatchOptions) {}

  start(): void {
    const embedded = this.o.embedded;
    if (embedded) {
      void embedded.exited.then(async (e) => {
        if (e.expected || this.#closed) return;
        this.#lose(`${this.o.where} ${exitText(e)}`, await tail(embedded));
      });
    }
    this.o.redis.on('error', this.#onError);
    this.#timer = setInterval(() => this.#tick(), this.o.pingEveryMs ?? 1000);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.o.redis.off('error', this.#onError);
  }

  #tick(): void {
    if (!this.#pinging) {
      this.#pinging = true;
      this.o.redis.ping().then(
        () => {
          this.#pinging = false;
          this.#lastAnswerMs = Date.now();
          if (this.#warned) this.o.log.warn(`${this.o.where} answers again`);
          this.#warned = false;
        },
        () => (this.#pinging = false),
      );
    }
    const silentMs = Date.now() - this.#lastAnswerMs;
    const timeout = this.o.timeoutMs;
    const warnAfter = Math.min(this.o.warnAfterMs ?? 10_000, timeout > 0 ? timeout : Infinity);
    if (!this.#warned && silentMs >= warnAfter && (timeout === 0 || silentMs < timeout)) {
      this.#warned = true;
      this.o.log.warn(
        { silentMs, timeoutMs: timeout },
        `${this.o.where} has not answered for ${formatDuration(silentMs)}; ${
          timeout > 0
            ? `the study waits up to ${formatDuration(timeout)} for it (--redis-timeout)`
            : 'the study waits for it (--redis-timeout 0)'
        }`,
      );
    }
    if (timeout > 0 && silentMs >= timeout)
      this.#lose(`${this.o.where} has not answered for ${formatDuration(silentMs)}`);
  }

  #lose(reason: string, details?: string): void {
    if (this.#closed) return;
    this.close();
    this.o.onLost(reason, details);
  }
}

function exitText(e: RedisExit): string {
  return e.signal ? `was killed by ${e.signal}` : `exited by itself with code ${e.code}`;
}

async function tail(embedded: EmbeddedRedis): Promise<string | undefined> {
  const lines = await embedded.lastLines(5).catch(() => '');
  if (!lines) return undefined;
  const clip = (l: string): string => (l.length > 160 ? `${l.slice(0, 157)}...` : l);
  return `its last log lines (${embedded.logFile}):\n${lines
    .split('\n')
    .map((l) => `  ${clip(l)}`)
    .join('\n')}`;
}
