/**
 * How a run ended, from how its process ended and why the worker killed it, if it did: the
 * outcome and message its result reports. Pure: the step runner passes all it knows.
 */
import { formatWalltime, type Outcome, type StepJob } from '@maestro/protocol';
import type { StepExit } from './run-step.js';

/** Why the worker killed a step; `lock-lost` steps are killed and never reported. */
export type KillReason = 'timedout' | 'cancelled' | 'interrupted' | 'preempted' | 'lock-lost';

/** What steps stopped by the worker's own end report. */
export type EndOutcome = 'interrupted' | 'preempted';

/** Who ran the step, and whether the worker was stopping (and how) when it ended. */
export interface OutcomeContext {
  worker: string;
  allocation: string | undefined;
  stopping: EndOutcome | undefined;
}

export function outcomeOf(
  exit: StepExit,
  reason: KillReason | undefined,
  job: Pick<StepJob, 'timeoutMs'>,
  who: OutcomeContext,
): { outcome: Outcome; message?: string } {
  if (exit.spawnError) return { outcome: 'failed', message: exit.spawnError };
  const where = who.allocation ? `allocation ${who.allocation}` : `worker ${who.worker}`;
  switch (reason) {
    case 'timedout':
      return {
        outcome: 'timedout',
        message: `killed at its walltime of ${formatWalltime(Math.ceil((job.timeoutMs ?? 0) / 1000))}`,
      };
    case 'cancelled':
      return { outcome: 'cancelled', message: 'killed: the study was cancelled' };
    case 'interrupted':
    case 'lock-lost':
      return { outcome: 'interrupted', message: `killed: worker ${who.worker} shut down` };
    case 'preempted':
      return { outcome: 'preempted', message: `stopped: ${where} is ending` };
    case undefined:
      break;
    default: {
      const never: never = reason;
      return never;
    }
  }
  if (exit.exitCode === 0) return { outcome: 'succeeded' };
  if (who.stopping && killedFromOutside(exit)) {
    if (exit.statusLost)
      return { outcome: who.stopping, message: `ended while ${where} was stopping (${exit.statusLost})` };
    const how = exit.signal ?? `${signalOfStatus(exit.exitCode)} (exit ${exit.exitCode})`;
    return { outcome: who.stopping, message: `killed by ${how} while ${where} was stopping` };
  }
  if (exit.signal) {
    const or = exit.fromStatus === undefined ? '' : ` (or it exited with status ${exit.fromStatus})`;
    return { outcome: 'failed', message: `killed by signal ${exit.signal}, not sent by the worker${or}` };
  }
  if (exit.statusLost) return { outcome: 'failed', message: `its exit status is lost: ${exit.statusLost}` };
  return { outcome: 'failed', message: `exited with code ${exit.exitCode}` };
}

/**
 * Signals that end a job: a step dead of one, or whose shell says so (128 + n), was killed.
 * Flux sends SIGALRM at a job's walltime and SIGUSR1 for `--signal` (to every job of an instance
 * whose allocation ends: a `$(LAUNCHER)` step's tasks die of them).
 */
const ENDING_SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  14: 'SIGALRM',
  15: 'SIGTERM',
};

const signalOfStatus = (code: number | null): string | undefined =>
  code !== null && code > 128 ? ENDING_SIGNALS[code - 128] : undefined;

/** The step died of a signal that ends jobs, directly or as its shell's exit status. */
export function killedFromOutside(exit: StepExit): boolean {
  if (exit.statusLost) return true; // only something hitting the worker's own processes loses one
  if (exit.signal) return Object.values(ENDING_SIGNALS).includes(exit.signal);
  return signalOfStatus(exit.exitCode) !== undefined;
}
