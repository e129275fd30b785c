/**
 * Results: a run's end turned into its StepResult and reported through the fence, then counted
 * and logged by what the fence said of it. Also the `started` event a claim carries, which
 * shares its fields with the result.
 */
import type { Outcome, StepResult, StepStarted } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Fence, RunRef } from './queue/fence.js';
import type { Now } from './timers.js';

/** How a run ended, before it is reported (the result's own fields). */
export interface RunEnd {
  outcome: Outcome;
  exitCode: number | null;
  signal: string | null;
  pid: number;
  startMs: number;
  message?: string;
}

/** A run that ended and whose result is not reported yet. */
export interface Ended {
  ref: RunRef;
  run: number;
  fields: RunEnd;
  endMs: number;
  log: Logger;
}

export class Results {
  /** Results the fence answered for, accepted or refused. */
  done = 0;
  readonly #fence: Fence;
  readonly #who: Pick<WorkerConfig, 'name' | 'host' | 'allocationId'>;
  readonly #log: Logger;
  readonly #now: Now;

  constructor(fence: Fence, who: Pick<WorkerConfig, 'name' | 'host' | 'allocationId'>, log: Logger, now: Now) {
    this.#fence = fence;
    this.#who = who;
    this.#log = log;
    this.#now = now;
  }

  startedEvent(ref: RunRef, startMs: number): Omit<StepStarted, 'run'> {
    const who = this.#who;
    return {
      type: 'started',
      index: ref.index,
      attempt: ref.attempt,
      worker: who.name,
      host: who.host,
      ...(who.allocationId ? { allocationId: who.allocationId } : {}),
      pid: 0,
      startMs,
    };
  }

  /** The run ends now. */
  ended(ref: RunRef, run: number, fields: RunEnd, log: Logger): Ended {
    return { ref, run, fields, endMs: this.#now(), log };
  }

  resultOf(e: Ended): StepResult {
    return { ...this.startedEvent(e.ref, e.fields.startMs), ...e.fields, type: 'result', run: e.run, endMs: e.endMs };
  }

  /** What the fence said of a result: counted and logged. */
  reported(e: Ended, accepted: boolean): void {
    this.done++;
    const { fields } = e;
    if (accepted && fields.outcome === 'succeeded' && !this.#log.isLevelEnabled('debug')) return;
    const facts = {
      outcome: fields.outcome,
      exitCode: fields.exitCode,
      signal: fields.signal,
      durationMs: e.endMs - fields.startMs,
      ...(fields.message ? { reason: fields.message } : {}),
    };
    // A step that succeeded is in the study's status (who ran it, when, how long): a line per
    // such step would be 300 MB of log in a million-step study, and 7% of a worker's time.
    if (!accepted) e.log.warn(facts, 'late result refused');
    else if (fields.outcome === 'succeeded') e.log.debug(facts, 'step finished');
    else e.log.info(facts, 'step finished');
  }

  unreported(e: Ended, err: unknown): void {
    e.log.error({ err, outcome: e.fields.outcome }, 'result could not be reported');
  }

  /** Reports a result on its own; never throws (a result that cannot be reported is logged). */
  async report(e: Ended): Promise<void> {
    let accepted: boolean;
    try {
      accepted = await this.#fence.report(e.ref, this.resultOf(e));
    } catch (err) {
      this.unreported(e, err);
      return;
    }
    this.reported(e, accepted);
  }
}
