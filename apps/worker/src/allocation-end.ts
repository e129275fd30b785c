/**
 * The allocation's end as the worker lives it: when its allocation ends (asked of the scheduler
 * through allocation.ts, and again every `refreshMs`, since an administrator may extend a job),
 * when the worker must stop (that end minus the preemption margin), and whether a walltime still
 * fits before then. At the stop time the worker preempts what still runs (reported `preempted`:
 * run again elsewhere, with its restart command if it has one) and exits, so that its allocation
 * is released; this part says when, the worker's onStop does it.
 */
import { fitsTimeLeft } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { AllocationClock } from './allocation.js';
import type { Lifecycle } from './lifecycle.js';
import { after, type Now } from './timers.js';

export interface AllocationEndOptions {
  clock: AllocationClock;
  /** Stop this long before the end, but never more than half of what is left at the start. */
  preemptMarginMs: number;
  /** Ask the scheduler again this often. */
  refreshMs: number;
  now: Now;
  log: Logger;
  /** Throttles the warning of a scheduler that does not answer (shared with connection errors). */
  warn: (write: () => void) => void;
  lifecycle: Pick<Lifecycle, 'state'>;
  /** The stop time has come while the worker runs or drains. */
  onStop(): void;
}

export class AllocationEnd {
  readonly #o: AllocationEndOptions;
  #endsAt: number | undefined;
  #stopAt: number | undefined;
  /** Fixed by the first answer with an end. */
  #marginMs: number | undefined;
  #stopTimer: (() => void) | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(options: AllocationEndOptions) {
    this.#o = options;
  }

  /** Epoch ms when the allocation ends; undefined when it has no end (or none is known). */
  get endsAt(): number | undefined {
    return this.#endsAt;
  }

  /** Epoch ms when this worker stops: the end minus the margin. */
  get stopAt(): number | undefined {
    return this.#stopAt;
  }

  /** Asks when the allocation ends, then keeps asking. Before the first step: none may outlast it. */
  async start(): Promise<void> {
    await this.refresh();
    this.#refreshTimer = setInterval(() => void this.refresh(), this.#o.refreshMs);
  }

  stop(): void {
    this.#stopTimer?.();
    clearInterval(this.#refreshTimer);
  }

  /** Whether a step with this walltime, started now, ends before the worker must stop. */
  fits(timeoutMs: number | undefined): boolean {
    return fitsTimeLeft(timeoutMs, this.#o.now(), this.#stopAt);
  }

  /** Whole seconds until the worker must stop (0 when that time has passed or is unknown). */
  secondsLeft(): number {
    return Math.max(0, Math.floor(((this.#stopAt ?? 0) - this.#o.now()) / 1000));
  }

  /** Asks the scheduler again; on a new stop time, arms the stop for it. Never throws. */
  async refresh(): Promise<void> {
    const o = this.#o;
    let endsAt: number | undefined;
    try {
      endsAt = await o.clock.endsAt();
    } catch (err) {
      o.warn(() => o.log.warn({ err }, 'cannot tell when the allocation ends; keeping what was known'));
      return;
    }
    const now = o.now();
    // Never more than half of what is left at the start: a short allocation still gets work done.
    if (this.#marginMs === undefined && endsAt !== undefined)
      this.#marginMs = Math.min(o.preemptMarginMs, Math.floor((endsAt - now) / 2));
    const before = this.#stopAt;
    this.#endsAt = endsAt;
    const stopAt = endsAt === undefined ? undefined : endsAt - (this.#marginMs ?? o.preemptMarginMs);
    this.#stopAt = stopAt;
    if (stopAt === before) return;
    if (stopAt !== undefined)
      o.log.info(
        { endsAt: new Date(endsAt!).toISOString(), stopAt: new Date(stopAt).toISOString() },
        'allocation end known',
      );
    this.#stopTimer?.();
    this.#stopTimer = stopAt === undefined ? undefined : after(Math.max(0, stopAt - now), () => void this.#onStopAt());
  }

  async #onStopAt(): Promise<void> {
    await this.refresh(); // extended meanwhile? then the timer was armed again
    const state = this.#o.lifecycle.state;
    if (state !== 'running' && state !== 'draining') return;
    if (this.#stopAt === undefined || this.#o.now() < this.#stopAt) return;
    this.#o.onStop();
  }
}
