/**
 * Merlin's return codes (merlin/common/tasks.py, merlin_step): what an exit code asks of the
 * conductor in a Merlin study, and each step's retry settings. Pure; the instance machine acts.
 */
import { MERLIN_RETURN_CODES, type ExpandedStudy, type RunSettings } from '@maestro/spec';

/**
 * - retry: run `cmd` again after the step's retry_delay, up to max_retries (then soft-fail);
 * - restart: the same with the `restart` command, or `cmd` when there is none;
 * - soft-fail: the instance is FAILED, the study goes on, its dependents included (Merlin:
 *   "Continuing with workflow");
 * - hard-fail: the instance is FAILED and the study stops;
 * - stop-workers: the study's workers drain; the instance ends CANCELLED (Merlin's state for it)
 *   and its dependents still run once workers come back;
 * - raise-error: a failure Merlin does not retry: FAILED, its dependents never run.
 */
export type MerlinAction = 'retry' | 'restart' | 'soft-fail' | 'hard-fail' | 'stop-workers' | 'raise-error';

const ACTIONS: ReadonlyMap<number, MerlinAction> = new Map([
  [MERLIN_RETURN_CODES.MERLIN_RETRY, 'retry'],
  [MERLIN_RETURN_CODES.MERLIN_RESTART, 'restart'],
  [MERLIN_RETURN_CODES.MERLIN_SOFT_FAIL, 'soft-fail'],
  [MERLIN_RETURN_CODES.MERLIN_HARD_FAIL, 'hard-fail'],
  [MERLIN_RETURN_CODES.MERLIN_STOP_WORKERS, 'stop-workers'],
  [MERLIN_RETURN_CODES.MERLIN_RAISE_ERROR, 'raise-error'],
]);

/** The token a code came from, for messages: `MERLIN_RETRY (104)`. */
export function returnCodeName(exitCode: number): string {
  const entry = Object.entries(MERLIN_RETURN_CODES).find(([, code]) => code === exitCode);
  return entry ? `${entry[0]} (${exitCode})` : `exit code ${exitCode}`;
}

export function merlinActionOf(exitCode: number | null): MerlinAction | undefined {
  return exitCode === null ? undefined : ACTIONS.get(exitCode);
}

/** Merlin's defaults (merlin/spec/defaults.py, merlin/study/step.py). */
export const MERLIN_DEFAULT_MAX_RETRIES = 30;
export const MERLIN_DEFAULT_RETRY_DELAY_S = 1;
/** Retries are counted in the state record's u8 `restarts`: more than this cannot be told apart. */
export const MAX_COUNTED_RETRIES = 255;

export interface RetrySettings {
  /** Runs after the first that RETRY and RESTART may ask for. */
  readonly maxRetries: number;
  /** How long a retried job waits in its queue before a worker may take it. */
  readonly retryDelayMs: number;
}

/** A step's `retry_delay` in ms (Merlin's default where unset). */
export function retryDelayMsOf(run: Pick<RunSettings, 'retry_delay'>): number {
  return Math.max(0, Math.round((run.retry_delay ?? MERLIN_DEFAULT_RETRY_DELAY_S) * 1000));
}

/** Each step's `max_retries` and `retry_delay` (Merlin's defaults where unset), by step index. */
export function retrySettingsOf(x: ExpandedStudy): RetrySettings[] {
  return x.steps.map((s) => ({
    maxRetries: Math.min(s.run.max_retries ?? MERLIN_DEFAULT_MAX_RETRIES, MAX_COUNTED_RETRIES),
    retryDelayMs: retryDelayMsOf(s.run),
  }));
}
