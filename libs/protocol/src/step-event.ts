/**
 * StepEvent: what a worker reports about a run.
 * Producer: `maestro-worker`, only through the fence scripts (queue/fence.ts), so a stale run can
 * never report. Consumer: the conductor of the study, which applies them in stream order.
 * Channel: the study's events stream, `XADD <p>:study:<id>:events * e <json>`.
 */
import { z } from 'zod';

/**
 * How a run ended.
 * - succeeded / failed: the step exited 0 / non-zero (or was killed by a signal not ours);
 * - timedout: killed at its walltime;
 * - cancelled: killed because the study was cancelled;
 * - interrupted: stopped by its worker shutting down (SIGTERM drain) or losing its lock; not a
 *   failed attempt, the conductor runs it again;
 * - preempted: stopped because its allocation is about to end; not a failure;
 * - rejected: the worker could not run it at all (bad workspace, disk full, bad payload).
 */
export const Outcome = z.enum(['succeeded', 'failed', 'timedout', 'cancelled', 'interrupted', 'preempted', 'rejected']);
export type Outcome = z.output<typeof Outcome>;

const RunIdentity = {
  index: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  /** Run number of this attempt (a re-delivered attempt runs again with run + 1). */
  run: z.number().int().positive(),
  worker: z.string(),
  host: z.string(),
  /** SLURM_JOB_ID / FLUX_JOB_ID of the worker's allocation, if any. */
  allocationId: z.string().optional(),
};

export const StepStarted = z.object({
  type: z.literal('started'),
  ...RunIdentity,
  pid: z.number().int().nonnegative(),
  startMs: z.number(),
});
export type StepStarted = z.output<typeof StepStarted>;

export const StepResult = z.object({
  type: z.literal('result'),
  ...RunIdentity,
  outcome: Outcome,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  pid: z.number().int().nonnegative(),
  startMs: z.number(),
  endMs: z.number(),
  /** Why, in words, for anything but success. */
  message: z.string().optional(),
});
export type StepResult = z.output<typeof StepResult>;

export const StepEvent = z.discriminatedUnion('type', [StepStarted, StepResult]);
export type StepEvent = z.output<typeof StepEvent>;

/**
 * `StepEvent.parse`, with the member picked by `type` first. Before V8 has optimised zod's code,
 * the union costs more than the object it picks (docs/performance.md), and a short study's events
 * all come in that window. Anything else goes through the union, for its error.
 */
export function parseStepEvent(value: unknown): StepEvent {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (type === 'result') return StepResult.parse(value);
  if (type === 'started') return StepStarted.parse(value);
  return StepEvent.parse(value);
}

/** The stream field holding the JSON of an event. */
export const EVENT_FIELD = 'e';
