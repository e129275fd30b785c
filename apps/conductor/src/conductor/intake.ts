/**
 * Result intake: the one loop that reads the study's events and control streams and applies what
 * it read, for the run loop (blocking) and for reconciliation and cancel (draining). Events go
 * first: a result a worker reported counts before any request read with it takes effect. A cancel
 * is only noted here (InstanceMachine.requestCancel); the conductor carries it out (cancel.ts).
 */
import type { ControlRequest } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { StudyStore } from '../redis/index.js';
import type { InstanceMachine } from './instance-machine.js';
import {
  COALESCE_MIN_WAITING,
  COALESCE_READS_MS,
  FINISH_WINDOW_MS,
  IDLE_READ_MS_PER_LEFT,
  IDLE_READS_MS,
  PROMPT_READS_LEFT,
  READ_COUNT,
} from './timing.js';

/** The last entry applied of each stream (what a commit stores as the study's cursors). */
export interface StreamCursors {
  events: string;
  control: string;
}

/** What one read brought. */
export interface IntakeBatch {
  readonly events: number;
  readonly controls: number;
  /** Entries read, unreadable ones included (0: the streams had nothing new). */
  readonly entries: number;
}

export class ResultIntake {
  readonly cursors: StreamCursors;
  readonly #store: Pick<StudyStore, 'read'>;
  readonly #machine: InstanceMachine;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(
    store: Pick<StudyStore, 'read'>,
    machine: InstanceMachine,
    log: Logger,
    now: () => number,
    cursors: StreamCursors,
  ) {
    this.#store = store;
    this.#machine = machine;
    this.#log = log;
    this.#now = now;
    this.cursors = cursors;
  }

  /**
   * Reads one batch after the cursors and applies it. `blockMs`: wait that long for entries if
   * there are none (on the store's blocking connection); undefined: do not wait.
   */
  async readAndApply(blockMs: number | undefined): Promise<IntakeBatch> {
    const c = this.cursors;
    const batch = await this.#store.read(c.events, c.control, blockMs, READ_COUNT);
    this.#log.debug({ events: batch.events.length, controls: batch.controls.length }, 'read batch');
    for (const bad of batch.invalid) {
      this.#log.error({ stream: bad.stream, entryId: bad.id, err: bad.error }, 'ignored an unreadable stream entry');
    }
    const now = this.#now();
    const m = this.#machine;
    for (const { event } of batch.events) m.applyEvent(event, now);
    for (const { request } of batch.controls) this.#applyControl(request);
    if (batch.lastEventId) c.events = batch.lastEventId;
    if (batch.lastControlId) c.control = batch.lastControlId;
    const events = batch.events.length;
    const controls = batch.controls.length;
    return { events, controls, entries: events + controls + batch.invalid.length };
  }

  /**
   * After a failover the new primary may lack the newest entries the cursors point at; its own
   * new entries get ids from its clock, which may be behind the old one's. Each cursor past the
   * newest entry the server has goes back to it, so that no entry written from now on is skipped.
   * Returns whether a cursor moved back.
   */
  rewind(newest: StreamCursors): boolean {
    const c = this.cursors;
    let moved = false;
    if (compareStreamIds(c.events, newest.events) > 0) {
      c.events = newest.events;
      moved = true;
    }
    if (compareStreamIds(c.control, newest.control) > 0) {
      c.control = newest.control;
      moved = true;
    }
    return moved;
  }

  /** Applies everything the streams hold now, without waiting for more. */
  async drain(): Promise<void> {
    for (;;) {
      const batch = await this.readAndApply(undefined);
      if (batch.entries === 0) return;
    }
  }

  #applyControl(req: ControlRequest): void {
    switch (req.type) {
      case 'cancel':
        this.#machine.requestCancel();
        return;
      case 'update': {
        const m = this.#machine;
        m.updateLimits(req);
        this.#log.info({ throttle: m.limits.throttle, rlimit: m.limits.rlimit }, 'limits updated');
        return;
      }
      case 'release': {
        const was = this.#machine.health.release(req.host);
        this.#log.info({ host: req.host, wasQuarantined: was }, 'bad-node quarantine released');
        return;
      }
      default: {
        const never: never = req;
        throw new Error(`unknown control request ${JSON.stringify(never)}`);
      }
    }
  }
}

/** Orders two stream ids (`ms-seq`, or `0`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((p) => BigInt(p));
  const [bm = 0n, bs = 0n] = b.split('-').map((p) => BigInt(p));
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * How long after the last read results may wait to be read: IDLE_READS_MS while no result can let
 * anything be sent (at most IDLE_READ_MS_PER_LEFT per instance left; none once the study is down
 * to its last PROMPT_READS_LEFT instances),
 * COALESCE_READS_MS while plenty of steps wait in the queue, else 0.
 */
export function readPauseMs(m: InstanceMachine, now: number, startedMs: number): number {
  const left = m.expanded.instanceCount - m.finalCount();
  if (m.awaitedCount === 0 && m.ready.size === 0 && left > PROMPT_READS_LEFT)
    return Math.min(IDLE_READS_MS, left * IDLE_READ_MS_PER_LEFT);
  return m.queued >= plentyWaiting(m, now, startedMs) ? COALESCE_READS_MS : 0;
}

/** Queued steps enough for workers never to run dry while results wait to be read. */
function plentyWaiting(m: InstanceMachine, now: number, startedMs: number): number {
  const window = Math.max(1, Math.min(FINISH_WINDOW_MS, now - startedMs));
  const finishingPerRead = (m.finishRate.count(now) / window) * COALESCE_READS_MS;
  return Math.max(COALESCE_MIN_WAITING, 2 * m.running, 2 * finishingPerRead);
}
