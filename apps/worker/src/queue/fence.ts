/**
 * The worker's side of the fence (libs/protocol fence-scripts.ts): every run is claimed through
 * CLAIM_RUN and every result reported through REPORT_RESULT (or, between two members of a
 * bundle, both at once through REPORT_AND_CLAIM), so a stale or re-delivered run can never
 * overwrite a newer one. A claim may leave its started event to ANNOUNCE_START. The scripts are
 * defined once per connection with `defineCommand` (EVALSHA, falling back to EVAL after a SCRIPT
 * FLUSH or a Redis restart).
 */
import {
  ANNOUNCE_START_LUA,
  CLAIM_RUN_LUA,
  eventsKey,
  fenceKey,
  REPORT_AND_CLAIM_LUA,
  REPORT_RESULT_LUA,
  STATE_RECORD_BYTES,
  stateKey,
  studyKey,
  type StepResult,
  type StepStarted,
} from '@maestro/protocol';
import { isBusyReply, type Redis } from '../redis.js';
import type { JobLock } from './consumer.js';

/** Why a claim was refused (CLAIM_RUN's reasons); `lock`: the job's lock is no longer ours. */
export type ClaimRefusal = 'lock' | 'cancelled' | 'final' | 'stale' | 'done' | 'crashed';

export type ClaimOutcome = { claimed: true; run: number } | { claimed: false; reason: ClaimRefusal };

export interface RunRef {
  studyId: string;
  index: number;
  attempt: number;
}

/** Whether a claim writes its started event itself (`now`) or leaves it to announce() (`later`). */
export type Announce = 'now' | 'later';

export interface Fence {
  /**
   * Claims the next run of `ref` if `lock` (when given) is still this worker's, extending it;
   * writes the `started` event (with the run number) if claimed and `announce` is `now`.
   */
  claim(
    ref: RunRef,
    started: Omit<StepStarted, 'run'>,
    lock: JobLock | undefined,
    announce: Announce,
  ): Promise<ClaimOutcome>;
  /** Writes the started event of a run claimed with `later`, if that run is still in flight. */
  announce(ref: RunRef, started: StepStarted): Promise<boolean>;
  /** Reports the result of run `result.run`; false when refused (a newer run exists, or done). */
  report(ref: RunRef, result: StepResult): Promise<boolean>;
  /** report(reported, result), then claim(ref, started, lock, announce), in one round trip. */
  reportAndClaim(
    reported: RunRef,
    result: StepResult,
    ref: RunRef,
    started: Omit<StepStarted, 'run'>,
    lock: JobLock | undefined,
    announce: Announce,
  ): Promise<{ accepted: boolean; claim: ClaimOutcome }>;
}

interface FenceCommands {
  maestroClaimRun(...args: (string | number)[]): Promise<[number, number | string]>;
  maestroAnnounceStart(...args: (string | number)[]): Promise<number>;
  maestroReportResult(...args: (string | number)[]): Promise<number>;
  maestroReportAndClaim(...args: (string | number)[]): Promise<[number, number, number | string]>;
}

const CLAIM_REFUSALS: readonly string[] = ['lock', 'cancelled', 'final', 'stale', 'done', 'crashed'];

export function makeFence(redis: Redis, prefix: string, maxRunsPerAttempt: number): Fence {
  // The number of keys comes first: 4, or 6 with the job's lock.
  redis.defineCommand('maestroClaimRun', { lua: CLAIM_RUN_LUA });
  redis.defineCommand('maestroAnnounceStart', { numberOfKeys: 2, lua: ANNOUNCE_START_LUA });
  redis.defineCommand('maestroReportResult', { numberOfKeys: 2, lua: REPORT_RESULT_LUA });
  redis.defineCommand('maestroReportAndClaim', { lua: REPORT_AND_CLAIM_LUA });
  const commands = redis as unknown as FenceCommands;

  /** KEYS and ARGV of a claim, in CLAIM_RUN's order; `lead` goes between them (REPORT_AND_CLAIM). */
  const claimArgs = (
    ref: RunRef,
    started: Omit<StepStarted, 'run'>,
    lock: JobLock | undefined,
    announce: Announce,
    lead: (string | number)[] = [],
  ): (string | number)[] => {
    const keys = [
      fenceKey(prefix, ref.studyId),
      studyKey(prefix, ref.studyId),
      eventsKey(prefix, ref.studyId),
      stateKey(prefix, ref.studyId),
    ];
    const args = [
      ref.index,
      ref.attempt,
      maxRunsPerAttempt,
      JSON.stringify(started),
      STATE_RECORD_BYTES,
      announce === 'now' ? 1 : 0,
    ];
    return lock
      ? [6, ...keys, lock.key, lock.stalledKey, ...lead, ...args, lock.token, lock.durationMs, lock.jobId]
      : [4, ...keys, ...lead, ...args];
  };
  const reportArgs = (ref: RunRef, result: StepResult): (string | number)[] => [
    ref.index,
    ref.attempt,
    result.run,
    JSON.stringify(result),
  ];

  return {
    async claim(ref, started, lock, announce) {
      const [ok, value] = await whenNotBusy(() => commands.maestroClaimRun(...claimArgs(ref, started, lock, announce)));
      return claimOutcome(ok, value);
    },
    async announce(ref, started) {
      const written = await whenNotBusy(() =>
        commands.maestroAnnounceStart(
          fenceKey(prefix, ref.studyId),
          eventsKey(prefix, ref.studyId),
          ref.index,
          ref.attempt,
          started.run,
          JSON.stringify(started),
        ),
      );
      return written === 1;
    },
    async report(ref, result) {
      const accepted = await whenNotBusy(() =>
        commands.maestroReportResult(
          fenceKey(prefix, ref.studyId),
          eventsKey(prefix, ref.studyId),
          ...reportArgs(ref, result),
        ),
      );
      return accepted === 1;
    },
    async reportAndClaim(reported, result, ref, started, lock, announce) {
      // Both members belong to the same study: the fence and events keys are the claim's.
      const [accepted, ok, value] = await whenNotBusy(() =>
        commands.maestroReportAndClaim(...claimArgs(ref, started, lock, announce, reportArgs(reported, result))),
      );
      return { accepted: accepted === 1, claim: claimOutcome(ok, value) };
    },
  };
}

/** How long a fence call told BUSY waits before it asks again. */
const BUSY_RETRY_MS = 250;

/**
 * Runs a fence call again for as long as Redis answers BUSY (isBusyReply: the command did not
 * run, so asking again is safe even for a claim); the script ends or is killed.
 */
async function whenNotBusy<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isBusyReply(err)) throw err;
      await new Promise((r) => setTimeout(r, BUSY_RETRY_MS));
    }
  }
}

function claimOutcome(ok: number, value: number | string): ClaimOutcome {
  if (ok === 1) return { claimed: true, run: Number(value) };
  const reason = String(value);
  if (!CLAIM_REFUSALS.includes(reason)) throw new Error(`CLAIM_RUN returned an unknown refusal '${reason}'`);
  return { claimed: false, reason: reason as ClaimRefusal };
}
