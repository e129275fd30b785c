/** One measured number: a row of the benchmark table and of bench/results/latest.json. */
export interface BenchRow {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  /** The same work done by the ceiling (bare BullMQ, bare spawn loop), measured in the same run. */
  ceiling?: number;
  /**
   * Ours over the ceiling's: for a rate, 1.0 is as fast as the ceiling (higher is better); for a
   * cost (CPU per step), 1.0 costs as much (lower is better).
   */
  ratio?: number;
  /** The target the issue sets, in words, for the reader of the table. */
  target?: string;
}

export interface BenchContext {
  readonly quick: boolean;
  /** Also the runs that take long (`--huge`): the 10M-instance simulated study. */
  readonly huge: boolean;
  /** Another checkout (built) to measure beside this one, alternating (`--baseline DIR`). */
  readonly baseline?: string | undefined;
  /** Where scenario children may write. */
  readonly tmp: string;
  /** Prints a row as soon as it is measured. */
  report(row: BenchRow): void;
}

export type Scenario = (ctx: BenchContext) => Promise<void>;

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
