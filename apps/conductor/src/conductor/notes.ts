/** The log lines of what the state machine notes (InstanceNote): one place for their wording. */
import type { ExpandedStudy } from '@maestro/spec';
import type { Logger } from 'pino';
import type { InstanceNote } from './instance-machine.js';

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
    default: {
      const never: never = note;
      throw new Error(`unknown note ${JSON.stringify(never)}`);
    }
  }
}
