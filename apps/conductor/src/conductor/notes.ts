/** The log lines of what the state machine notes (InstanceNote): one place for their wording. */
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import type { Outcome } from '@maestro/protocol';
import type { MerlinAction } from './return-codes.js';

/** Who reported: the attempt and worker a log line names. */
export interface Reporter {
  readonly index: number;
  readonly attempt: number;
  /** The worker's name as it reported; '' when nobody did (reconciliation). */
  readonly worker: string;
}

/** What deserves a log line. Successes never do: most results are. */
export type InstanceNote =
  | { readonly kind: 'unknown-instance'; readonly index: number }
  /** A result of an attempt sent by an earlier conductor that died before writing it. */
  | { readonly kind: 'adopted'; readonly index: number; readonly attempt: number }
  | (Reporter & {
      readonly kind: 'retrying' | 'failed';
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly tries: number;
      readonly message: string | undefined;
    })
  | (Reporter & { readonly kind: 'restarting' | 'timed-out'; readonly restarts: number; readonly hasRestart: boolean })
  | (Reporter & { readonly kind: 'handed-back'; readonly outcome: Outcome; readonly message: string | undefined })
  /** A Merlin return code acted on; `retries` counts the RETRY and RESTART runs so far. */
  | (Reporter & {
      readonly kind: 'merlin';
      readonly action: MerlinAction;
      readonly retries: number;
      readonly maxRetriesReached: boolean;
    });

export function logNote(log: Logger, x: ExpandedStudy, note: InstanceNote): void {
  switch (note.kind) {
    case 'unknown-instance':
      log.warn({ index: note.index }, 'ignored an event for an instance this study does not have');
      return;
    case 'adopted':
      log.debug(
        { index: note.index, attempt: note.attempt },
        'an attempt sent but not written by an earlier conductor reported',
      );
      return;
    default:
  }
  const { index, attempt, worker } = note;
  const child = log.child({ index, name: x.instanceName(index), attempt, worker });
  switch (note.kind) {
    case 'retrying':
      child.info({ exitCode: note.exitCode, tries: note.tries, message: note.message }, 'step failed; trying again');
      return;
    case 'failed':
      child.warn({ exitCode: note.exitCode, signal: note.signal, message: note.message }, 'step failed');
      return;
    case 'restarting':
      child.info({ restarts: note.restarts }, 'step timed out; running its restart command');
      return;
    case 'timed-out':
      child.warn(
        { restarts: note.restarts },
        note.hasRestart ? 'step timed out; restart limit reached' : 'step timed out',
      );
      return;
    case 'handed-back':
      child.info({ outcome: note.outcome, message: note.message }, 'step handed back; running it again');
      return;
    case 'merlin':
      child.info(
        { action: note.action, retries: note.retries, maxRetriesReached: note.maxRetriesReached },
        'step exited a Merlin return code',
      );
      return;
    default: {
      const never: never = note;
      throw new Error(`unknown note ${JSON.stringify(never)}`);
    }
  }
}
