/**
 * The node-hour budget (`maestro run --budget N`): what the study has spent (nodes × run time of
 * every run that ended) plus what it has committed (nodes × walltime of every instance sent and
 * not ended) may not pass N. An instance is sent only if its own cost fits beside them: its
 * walltime if it has one, else its step's mean run time so far, else nothing (it is then
 * counted once it ran). The study stops, resumable, when what is left cannot start.
 *
 * Kept incrementally (the machine reports each send and each end), in node-milliseconds. On
 * resume the spent part is rebuilt from the records, which keep each instance's last run only:
 * runs of earlier attempts are not counted again.
 */
import { parseWalltimeSeconds, StepState } from '@maestro/protocol';
import { readCount, type ExpandedStudy } from '@maestro/spec';
import type { InstanceRecords } from './instance-records.js';
import type { StepTiming } from './step-timing.js';

const MS_PER_HOUR = 3_600_000;

export class NodeHourBudget {
  /** Per step: nodes, and walltime in ms (0: none) when the same for every instance. */
  readonly #nodes: Float64Array;
  readonly #walltimeMs: Float64Array;
  /** Per instance: node-ms committed while it is in flight. */
  readonly #committedOf: Float64Array;
  #spent = 0;
  #committed = 0;

  /** Rebuilt from `records` as they are (a new study's are all INITIALIZED). */
  constructor(
    private readonly x: ExpandedStudy,
    private readonly timing: StepTiming,
    records: InstanceRecords,
  ) {
    this.#nodes = Float64Array.from(x.steps, (s) => readCount((s.run as Record<string, unknown>)['nodes']) ?? 1);
    this.#walltimeMs = Float64Array.from(x.steps, (s) => walltimeMs((s.run as Record<string, unknown>)['walltime']));
    this.#committedOf = new Float64Array(x.instanceCount);
    for (let i = 0; i < x.instanceCount; i++) {
      const s = records.state(i);
      if (inFlight(s)) this.sent(i);
      else this.ran(i, records.startMs(i), records.endMs(i));
    }
  }

  /** Instance `i` moved from state `old` to `s` (InstanceMachine's one place for that). */
  moved(i: number, old: number, s: number, startMs: number, endMs: number): void {
    if (!inFlight(old) && inFlight(s)) this.sent(i);
    // Only a run that started in this flight spent anything: a PENDING instance's times are its last run's.
    else if (inFlight(old) && !inFlight(s)) this.ended(i, old === StepState.RUNNING ? startMs : 0, endMs);
  }

  /** Node-ms instance `i`'s next run may take: nodes × walltime, else × its step's mean so far. */
  costOf(i: number): number {
    const s = this.x.stepIndexOf(i);
    const wall = this.#walltimeMs[s]! || this.timing.meanRunMs(s);
    return this.#nodes[s]! * wall;
  }

  /** Whether instance `i` may be sent within `budgetHours` (0: no budget). */
  allows(i: number, budgetHours: number): boolean {
    return budgetHours <= 0 || this.#spent + this.#committed + this.costOf(i) <= budgetHours * MS_PER_HOUR;
  }

  sent(i: number): void {
    const cost = this.costOf(i);
    this.#committedOf[i] = cost;
    this.#committed += cost;
  }

  /** Instance `i` left flight; its run from startMs to endMs (if it ran) is spent. */
  ended(i: number, startMs: number, endMs: number): void {
    this.#committed -= this.#committedOf[i]!;
    this.#committedOf[i] = 0;
    this.ran(i, startMs, endMs);
  }

  /** A run that ended before this conductor knew of it (the records, on resume). */
  ran(i: number, startMs: number, endMs: number): void {
    if (startMs > 0 && endMs >= startMs) this.#spent += this.#nodes[this.x.stepIndexOf(i)]! * (endMs - startMs);
  }

  get spentHours(): number {
    return this.#spent / MS_PER_HOUR;
  }
  get committedHours(): number {
    return this.#committed / MS_PER_HOUR;
  }
}

const inFlight = (s: number): boolean => s === StepState.PENDING || s === StepState.RUNNING;

function walltimeMs(value: unknown): number {
  if ((typeof value !== 'string' && typeof value !== 'number') || String(value).includes('$(')) return 0;
  try {
    return (parseWalltimeSeconds(value) ?? 0) * 1000;
  } catch {
    return 0;
  }
}
