/**
 * The control channel: WorkerSignals from the conductor (`PUBLISH <p>:control <json>`), e.g.
 * "cancel the running steps of study X" or "drain these workers", and the cancels this worker
 * remembers. Pub/sub is fire-and-forget: a worker that is disconnected misses the message, which
 * is why the claim script also refuses steps of a cancelled study.
 */
import { controlChannel, WorkerSignal, type StepJob } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { Redis } from './redis.js';
import type { Now } from './timers.js';

/** A cancel is also remembered this long, for steps claimed just before it arrived. */
export const CANCEL_MEMORY_MS = 60_000;

export interface ControlHandlers {
  /** Kills the running steps that are now cancelled (ask `isCancelled`); returns how many. */
  cancelRunning(): number;
  /** A drain addressed to this worker, its allocation, or every worker. */
  drain(): void;
}

export class ControlChannel {
  readonly #who: { name: string; allocationId?: string | undefined };
  readonly #log: Logger;
  readonly #now: Now;
  readonly #handlers: ControlHandlers;
  /** By study: which instances (all, when undefined) and when the cancel arrived. */
  readonly #cancels = new Map<string, { indices?: ReadonlySet<number>; at: number }>();

  constructor(
    who: { name: string; allocationId?: string | undefined },
    log: Logger,
    now: Now,
    handlers: ControlHandlers,
  ) {
    this.#who = who;
    this.#log = log;
    this.#now = now;
    this.#handlers = handlers;
  }

  /** Listens on `subscriber` (a connection used for nothing else). */
  subscribe(subscriber: Redis, prefix: string): Promise<void> {
    return subscribeControl(subscriber, prefix, (signal) => this.onSignal(signal), this.#log);
  }

  /** True for an instance of a study cancelled within CANCEL_MEMORY_MS. */
  isCancelled(job: Pick<StepJob, 'studyId' | 'index'>): boolean {
    const c = this.#cancels.get(job.studyId);
    return c !== undefined && this.#now() - c.at < CANCEL_MEMORY_MS && (!c.indices || c.indices.has(job.index));
  }

  onSignal(signal: WorkerSignal): void {
    switch (signal.type) {
      case 'cancel': {
        this.#cancels.set(signal.studyId, {
          indices: signal.indices ? new Set(signal.indices) : undefined,
          at: this.#now(),
        });
        const steps = this.#handlers.cancelRunning();
        this.#log.info({ studyId: signal.studyId, indices: signal.indices, steps }, 'cancel received');
        return;
      }
      case 'drain': {
        const who = this.#who;
        const everyone = !signal.allocations && !signal.workers;
        const mine =
          everyone ||
          (who.allocationId !== undefined && signal.allocations?.includes(who.allocationId)) ||
          signal.workers?.includes(who.name);
        if (mine) this.#handlers.drain();
        return;
      }
      default: {
        const never: never = signal;
        return never;
      }
    }
  }

  /** Drops the cancels older than CANCEL_MEMORY_MS (called at each heartbeat). */
  forgetExpired(): void {
    const now = this.#now();
    for (const [studyId, c] of this.#cancels) if (now - c.at >= CANCEL_MEMORY_MS) this.#cancels.delete(studyId);
  }
}

async function subscribeControl(
  subscriber: Redis,
  prefix: string,
  onSignal: (signal: WorkerSignal) => void,
  log: Logger,
): Promise<void> {
  const channel = controlChannel(prefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      json = undefined;
    }
    const parsed = WorkerSignal.safeParse(json);
    if (!parsed.success) {
      log.warn({ channel, message: message.slice(0, 200) }, 'ignored an unknown control message');
      return;
    }
    onSignal(parsed.data);
  });
  await subscriber.subscribe(channel);
}
