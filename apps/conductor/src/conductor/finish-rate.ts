/**
 * How many instances finished in the last minute, for the progress rate, the ETA and read
 * coalescing: counts per second in a ring of 60, so recording a finish and asking the count are
 * O(1) whatever the rate. Not an array of timestamps trimmed with shift(): once it holds a minute
 * of a fast study, V8 moves every element of so large an array at each shift.
 */
import { FINISH_BUCKET_MS as BUCKET_MS, FINISH_WINDOW_MS } from './timing.js';

const BUCKETS = FINISH_WINDOW_MS / BUCKET_MS;

export class FinishRate {
  readonly #counts = new Uint32Array(BUCKETS);
  /** Run time of the instances each bucket counts, in ms: the concurrency they imply. */
  readonly #busy = new Float64Array(BUCKETS);
  #busyTotal = 0;
  /** The second (now / BUCKET_MS) the newest bucket counts. */
  #second = 0;
  #total = 0;

  /** One finish at `now`, which ran for `runMs`. */
  record(now: number, runMs = 0): void {
    this.#advance(now);
    this.#counts[this.#second % BUCKETS]!++;
    this.#total++;
    this.#busy[this.#second % BUCKETS]! += runMs;
    this.#busyTotal += runMs;
  }

  /** Run time of the last minute's finishes, in ms (over a window: their average concurrency). */
  busyMs(now: number): number {
    this.#advance(now);
    return this.#busyTotal;
  }

  /** Finishes in the last minute (to the second). */
  count(now: number): number {
    this.#advance(now);
    return this.#total;
  }

  /** Empties the buckets of the seconds between the newest one and `now`'s. */
  #advance(now: number): void {
    const second = Math.floor(now / BUCKET_MS);
    if (second <= this.#second) return;
    const stale = Math.min(BUCKETS, second - this.#second);
    for (let k = 1; k <= stale; k++) {
      const b = (this.#second + k) % BUCKETS;
      this.#total -= this.#counts[b]!;
      this.#counts[b] = 0;
      this.#busyTotal -= this.#busy[b]!;
      this.#busy[b] = 0;
    }
    this.#second = second;
  }
}
