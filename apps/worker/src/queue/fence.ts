/**
 * The worker's side of the fence (libs/protocol fence-scripts.ts): every run is claimed through
 * CLAIM_RUN and every result reported through REPORT_RESULT, so a stale or re-delivered run can
 * never overwrite a newer one. Both scripts are defined once per connection with `defineCommand`
 * (EVALSHA, falling back to EVAL after a SCRIPT FLUSH or a Redis restart).
 */
import {
  CLAIM_RUN_LUA,
  eventsKey,
  fenceKey,
  REPORT_RESULT_LUA,
  STATE_RECORD_BYTES,
  stateKey,
  studyKey,
  type StepResult,
  type StepStarted,
} from '@maestro/protocol';
import type { Redis } from '../redis.js';
import type { JobLock } from './consumer.js';

/** Why a claim was refused (CLAIM_RUN's reasons); `lock`: the job's lock is no longer ours. */
export type ClaimRefusal = 'lock' | 'cancelled' | 'final' | 'stale' | 'done' | 'crashed';

export type ClaimOutcome = { claimed: true; run: number } | { claimed: false; reason: ClaimRefusal };

export interface RunRef {
  studyId: string;
  index: number;
  attempt: number;
}

export interface Fence {
  /**
   * Claims the next run of `ref` if `lock` (when given) is still this worker's, extending it;
   * writes the `started` event (with the run number) if claimed.
   */
  claim(ref: RunRef, started: Omit<StepStarted, 'run'>, lock: JobLock | undefined): Promise<ClaimOutcome>;
  /** Reports the result of run `result.run`; false when refused (a newer run exists, or done). */
  report(ref: RunRef, result: StepResult): Promise<boolean>;
}

interface FenceCommands {
  maestroClaimRun(...args: (string | number)[]): Promise<[number, number | string]>;
  maestroReportResult(...args: (string | number)[]): Promise<number>;
}

const CLAIM_REFUSALS: readonly string[] = ['lock', 'cancelled', 'final', 'stale', 'done', 'crashed'];

export function makeFence(redis: Redis, prefix: string, maxRunsPerAttempt: number): Fence {
  // The number of keys comes first: 4, or 6 with the job's lock.
  redis.defineCommand('maestroClaimRun', { lua: CLAIM_RUN_LUA });
  redis.defineCommand('maestroReportResult', { numberOfKeys: 2, lua: REPORT_RESULT_LUA });
  const commands = redis as unknown as FenceCommands;

  return {
    async claim(ref, started, lock) {
      const keys = [
        fenceKey(prefix, ref.studyId),
        studyKey(prefix, ref.studyId),
        eventsKey(prefix, ref.studyId),
        stateKey(prefix, ref.studyId),
      ];
      const args = [ref.index, ref.attempt, maxRunsPerAttempt, JSON.stringify(started), STATE_RECORD_BYTES];
      const [ok, value] = lock
        ? await commands.maestroClaimRun(
            6,
            ...keys,
            lock.key,
            lock.stalledKey,
            ...args,
            lock.token,
            lock.durationMs,
            lock.jobId,
          )
        : await commands.maestroClaimRun(4, ...keys, ...args);
      if (ok === 1) return { claimed: true, run: Number(value) };
      const reason = String(value);
      if (!CLAIM_REFUSALS.includes(reason)) throw new Error(`CLAIM_RUN returned an unknown refusal '${reason}'`);
      return { claimed: false, reason: reason as ClaimRefusal };
    },
    async report(ref, result) {
      const accepted = await commands.maestroReportResult(
        fenceKey(prefix, ref.studyId),
        eventsKey(prefix, ref.studyId),
        ref.index,
        ref.attempt,
        result.run,
        JSON.stringify(result),
      );
      return accepted === 1;
    },
  };
}
