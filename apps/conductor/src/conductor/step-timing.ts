/**
 * How long each step's instances run: the recent mean (for bundles: how many fit in a job), and
 * the whole distribution as a log-scale histogram (for the ETA and the walltime warning: median,
 * p90, max). Compact whatever the study's size: 400 counters a step, not a time per instance.
 * Rebuilt from the instance records on resume, so what was learned survives a restart.
 */
import { TIMING_MEMORY } from './timing.js';

/** Buckets grow by 5% from 10 ms: 400 of them reach a month, each within ±2.5% of its runs. */
const BUCKETS = 400;
const FIRST_MS = 10;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

export interface RuntimeSummary {
  readonly runs: number;
  readonly medianMs: number;
  readonly p10Ms: number;
  readonly p90Ms: number;
  readonly maxMs: number;
  /** Of the last TIMING_MEMORY runs: what a run costs on average, for sums of many. */
  readonly meanMs: number;
}

export class StepTiming {
  /** Per step: runs timed (capped in the mean by TIMING_MEMORY), their mean run time (ms), probe start. */
  readonly #timed: Uint32Array;
  readonly #meanRunMs: Float64Array;
  readonly #probeFrom: Float64Array;
  readonly #histogram: Uint32Array;
  readonly #maxMs: Float64Array;

  constructor(stepCount: number) {
    this.#timed = new Uint32Array(stepCount);
    this.#meanRunMs = new Float64Array(stepCount);
    this.#probeFrom = new Float64Array(stepCount);
    this.#histogram = new Uint32Array(stepCount * BUCKETS);
    this.#maxMs = new Float64Array(stepCount);
  }

  /** Counts a run of step `s` from startMs to endMs; a run without both times is not counted. */
  record(s: number, startMs: number, endMs: number): void {
    if (!(startMs > 0 && endMs >= startMs)) return;
    const ms = endMs - startMs;
    const n = Math.min(TIMING_MEMORY, ++this.#timed[s]!);
    this.#meanRunMs[s]! += (ms - this.#meanRunMs[s]!) / n;
    this.#histogram[s * BUCKETS + bucketOf(ms)]!++;
    if (ms > this.#maxMs[s]!) this.#maxMs[s] = ms;
  }

  timed(s: number): number {
    return this.#timed[s]!;
  }

  meanRunMs(s: number): number {
    return this.#meanRunMs[s]!;
  }

  /** Median, p10, p90 (each to within 2.5%), max and recent mean of step `s`'s runs; undefined before the first. */
  summary(s: number): RuntimeSummary | undefined {
    const runs = this.#timed[s]!;
    if (runs === 0) return undefined;
    const h = this.#histogram.subarray(s * BUCKETS, (s + 1) * BUCKETS);
    const max = this.#maxMs[s]!;
    const at = (q: number): number => Math.min(max, quantile(h, runs, q));
    return { runs, medianMs: at(0.5), p10Ms: at(0.1), p90Ms: at(0.9), maxMs: max, meanMs: this.#meanRunMs[s]! };
  }

  /** When step `s` started being timed: `now` the first time this is asked. */
  probeStart(s: number, now: number): number {
    if (this.#probeFrom[s] === 0) this.#probeFrom[s] = now;
    return this.#probeFrom[s]!;
  }
}

function bucketOf(ms: number): number {
  if (ms <= FIRST_MS) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / FIRST_MS) / LOG_GROWTH));
}

/** The middle (geometric) of the bucket holding the q-quantile. */
function quantile(h: Uint32Array, runs: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * runs));
  let seen = 0;
  for (let b = 0; b < h.length; b++) {
    seen += h[b]!;
    if (seen >= rank) return b === 0 ? FIRST_MS / 2 : FIRST_MS * GROWTH ** (b - 0.5);
  }
  return FIRST_MS * GROWTH ** (h.length - 1);
}
