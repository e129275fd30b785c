/**
 * The worker's own record of a run that succeeded: a small file in the step's workspace,
 * `.maestro-run.<index>.json`, written once the step has ended and before its result is reported.
 *
 * Why: Redis replication is asynchronous. When the primary dies and a replica takes over, a result
 * Redis had acknowledged may be gone, with the claim and the job itself: the job comes back (the
 * fence lets the same attempt run again), or the conductor, finding neither job nor result, sends
 * a new attempt. A worker that finds the record of a success of this instance, whichever attempt
 * it was, reports the recorded result (as the run the fence gave it) instead of doing the step's
 * work a second time. The conductor sends a new attempt only of an instance it has no success of,
 * so a recorded success always answers it; and an older attempt's job that a failover brought
 * back after a newer attempt succeeded (the fence lost the newer entry) is answered by the newer
 * success, which the conductor accepts or refuses as stale. Failures are not recorded (a retry
 * must run).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StepJob } from '@maestro/protocol';
import type { RunRef } from './queue/fence.js';
import type { RunEnd } from './results.js';

export interface RunRecord {
  readonly fields: RunEnd;
  readonly endMs: number;
}

function recordFile(job: Pick<StepJob, 'workspace'>, ref: RunRef): string {
  return path.join(job.workspace, `.maestro-run.${ref.index}.json`);
}

/** Notes that attempt `ref` succeeded; false when the file could not be written (not an error: only a lost report needs it). */
export function writeRunRecord(job: Pick<StepJob, 'workspace'>, ref: RunRef, record: RunRecord): boolean {
  try {
    writeFileSync(recordFile(job, ref), JSON.stringify({ study: ref.studyId, attempt: ref.attempt, ...record }));
    return true;
  } catch {
    return false;
  }
}

/** The record of a success of this instance of this study (any attempt), if a run succeeded here before. */
export function readRunRecord(job: Pick<StepJob, 'workspace'>, ref: RunRef): RunRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordFile(job, ref), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = JSON.parse(text) as { study?: unknown; attempt?: unknown; fields?: Partial<RunEnd>; endMs?: unknown };
    const f = r.fields;
    if (r.study !== ref.studyId || typeof r.attempt !== 'number') return undefined;
    if (!f || f.outcome !== 'succeeded' || typeof r.endMs !== 'number') return undefined;
    if (typeof f.pid !== 'number' || typeof f.startMs !== 'number') return undefined;
    return {
      fields: {
        outcome: 'succeeded',
        exitCode: f.exitCode ?? 0,
        signal: f.signal ?? null,
        pid: f.pid,
        startMs: f.startMs,
      },
      endMs: r.endMs,
    };
  } catch {
    return undefined; // half-written (the worker died while writing): the step runs again
  }
}
