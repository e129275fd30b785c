/**
 * The idle timeout (`--idle-timeout`): a worker with no step running and no job in hand for that
 * long stops, so that an allocation with nothing left to run is released. A job handed back
 * (one this worker can never run) is not activity.
 */
import type { Lifecycle } from './lifecycle.js';
import type { Now } from './timers.js';

export interface IdleTimeoutParts {
  /** Undefined: the worker never stops for being idle. */
  timeoutMs: number | undefined;
  now: Now;
  lifecycle: Pick<Lifecycle, 'state'>;
  /** Steps running now. */
  running: { readonly size: number };
  /** The worker has been idle for `timeoutMs` while running. */
  onIdle(): void;
}

export class IdleTimeout {
  readonly #parts: IdleTimeoutParts;
  /** Jobs taken from the queue and not finished yet. */
  #inHand = 0;
  #lastActivity: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(parts: IdleTimeoutParts) {
    this.#parts = parts;
    this.#lastActivity = parts.now();
  }

  /** Something happened that counts as work: the idle time starts again. */
  touch(): void {
    this.#lastActivity = this.#parts.now();
  }

  jobTaken(): void {
    this.#inHand++;
  }

  /** A job is finished; `wasWork` is false for one handed back. */
  jobDone(wasWork: boolean): void {
    this.#inHand--;
    if (wasWork) this.#lastActivity = this.#parts.now();
  }

  /** Running, with nothing in hand or running (for any time, whatever the timeout). */
  isQuiet(): boolean {
    const p = this.#parts;
    return p.lifecycle.state === 'running' && this.#inHand === 0 && p.running.size === 0;
  }

  /** Running, with nothing in hand or running, for at least `timeoutMs`. */
  isIdle(): boolean {
    const p = this.#parts;
    if (p.timeoutMs === undefined || !this.isQuiet()) return false;
    return p.now() - this.#lastActivity >= p.timeoutMs;
  }

  /** Checks every second (or every `timeoutMs`, if shorter). */
  start(): void {
    const timeoutMs = this.#parts.timeoutMs;
    if (timeoutMs === undefined) return;
    this.#timer = setInterval(
      () => {
        if (this.isIdle()) this.#parts.onIdle();
      },
      Math.min(1_000, timeoutMs),
    );
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
