/**
 * How long each step's instances run, for bundles: the runs timed so far, their mean, and when the
 * step's first instance was sent alone to be timed.
 */
import { TIMING_MEMORY } from './timing.js';

export class StepTiming {
  /** Per step: runs timed (capped in the mean by TIMING_MEMORY), their mean run time (ms), probe start. */
  readonly #timed: Uint32Array;
  readonly #meanRunMs: Float64Array;
  readonly #probeFrom: Float64Array;

  constructor(stepCount: number) {
    this.#timed = new Uint32Array(stepCount);
    this.#meanRunMs = new Float64Array(stepCount);
    this.#probeFrom = new Float64Array(stepCount);
  }

  /** Counts a run of step `s` from startMs to endMs; a run without both times is not counted. */
  record(s: number, startMs: number, endMs: number): void {
    if (!(startMs > 0 && endMs >= startMs)) return;
    const n = Math.min(TIMING_MEMORY, ++this.#timed[s]!);
    this.#meanRunMs[s]! += (endMs - startMs - this.#meanRunMs[s]!) / n;
  }

  timed(s: number): number {
    return this.#timed[s]!;
  }

  meanRunMs(s: number): number {
    return this.#meanRunMs[s]!;
  }

  /** When step `s` started being timed: `now` the first time this is asked. */
  probeStart(s: number, now: number): number {
    if (this.#probeFrom[s] === 0) this.#probeFrom[s] = now;
    return this.#probeFrom[s]!;
  }
}
