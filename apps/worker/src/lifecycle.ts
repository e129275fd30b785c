/**
 * The worker's lifecycle, which every part reads: its state, whether it is stopping and how the
 * steps it stops itself end, and who waits for it to stop.
 */
import type { EndOutcome } from './step-outcome.js';

/** Lifecycle of a worker. `draining`: takes no new steps, lets running ones finish. */
export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped';

export class Lifecycle {
  state: WorkerState = 'starting';
  /**
   * Set by the first close(): from then on a step that dies of a signal was most likely killed
   * by the same hand that stops the worker, and ends as `endOutcome`.
   */
  stopping = false;
  /** What steps stopped by the worker's own end report: `preempted` once its allocation ends. */
  endOutcome: EndOutcome = 'interrupted';
  /** Resolves once the worker has stopped. */
  readonly stopped: Promise<void>;
  readonly #resolveStopped: () => void;
  #stopWaiters: (() => void)[] = [];

  constructor() {
    let resolve!: () => void;
    this.stopped = new Promise<void>((r) => (resolve = r));
    this.#resolveStopped = resolve;
  }

  /** Resolves at the next close() call (see `stopRequested`), or after `ms`. */
  stopSignalWithin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#stopWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** close() was called (again or for the first time): wakes whoever waits in stopSignalWithin. */
  stopRequested(): void {
    const waiters = this.#stopWaiters;
    this.#stopWaiters = [];
    for (const wake of waiters) wake();
  }

  markStopped(): void {
    this.state = 'stopped';
    this.#resolveStopped();
  }
}
