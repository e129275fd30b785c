/**
 * The time a study has left, from what its steps have taught: the work left (per step, the
 * instances not started times their mean run time, and half that for the running ones) over
 * the concurrency the study gets (running instances now, or what the last minute's finishes
 * imply, whichever is more). A step not timed yet counts at the median of the other steps' means.
 * The range is where the sum of the runs falls nine times in ten, by each step's spread (p10
 * to p90); it widens where steps are not timed yet. Without any timed run there is no estimate.
 */
import type { RuntimeSummary } from './step-timing.js';

export interface StepLeft {
  /** Instances not started and not final. */
  readonly waiting: number;
  readonly running: number;
  readonly runtime: RuntimeSummary | undefined;
}

export interface Estimate {
  readonly etaMs: number;
  readonly lowMs: number;
  readonly highMs: number;
  /** Share of the work left whose run time was measured (0..1). */
  readonly measured: number;
}

/** z for a two-sided 90% interval, and the normal p10..p90 span in standard deviations. */
const Z90 = 1.645;
const P10_P90_SIGMAS = 2.563;

export function estimateLeft(steps: readonly StepLeft[], concurrency: number): Estimate | undefined {
  const means = steps.flatMap((s) => (s.runtime ? [s.runtime.meanMs] : [])).sort((a, b) => a - b);
  if (!means.length || concurrency <= 0) return undefined;
  const fallback = means[means.length >> 1]!;
  let work = 0;
  let measuredWork = 0;
  let variance = 0;
  let unmeasuredWork = 0;
  for (const s of steps) {
    const count = s.waiting + s.running / 2;
    if (count <= 0) continue;
    const mean = s.runtime?.meanMs ?? fallback;
    work += count * mean;
    if (s.runtime) {
      measuredWork += count * mean;
      const sigma = (s.runtime.p90Ms - s.runtime.p10Ms) / P10_P90_SIGMAS;
      variance += count * sigma * sigma;
    } else unmeasuredWork += count * mean;
  }
  if (work === 0) return { etaMs: 0, lowMs: 0, highMs: 0, measured: 1 };
  const etaMs = work / concurrency;
  // Runs vary around their median; a step not timed yet may take half or twice the guess.
  const spread = (Z90 * Math.sqrt(variance)) / concurrency;
  return {
    etaMs,
    lowMs: Math.max(0, etaMs - spread - unmeasuredWork / 2 / concurrency),
    highMs: etaMs + spread + unmeasuredWork / concurrency,
    measured: measuredWork / work,
  };
}
