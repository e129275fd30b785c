/**
 * Shutdown: the worker's close(), in an order that keeps every claimed run reported. It stops
 * fetching at once; lets the running steps finish (for the shutdown grace, or however long when
 * draining) or stops them now (a second close, `now`, or the allocation ending); then, with no
 * job left in hand, stops the other parts' timers, leaves the fleet, ends the launcher (which
 * kills whatever still runs) and closes Redis.
 */
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Connections } from './connections.js';
import type { Presence } from './heartbeat.js';
import type { Lifecycle } from './lifecycle.js';
import type { StepConsumer } from './queue/consumer.js';
import type { StepLauncher } from './run-step.js';
import type { StepRunner } from './step-runner.js';
import { after, withTimeout } from './timers.js';

/** Cleanup writes on the way out wait at most this long for Redis. */
const EXIT_REDIS_TIMEOUT_MS = 5_000;

export interface CloseOptions {
  /** Kill the running steps at once (reported `interrupted`). */
  now?: boolean;
  /** Let the running steps finish, however long they take. */
  drain?: boolean;
  /** The allocation is ending: stop the running steps now and report them `preempted`. */
  preempt?: boolean;
}

export interface ShutdownParts {
  config: Pick<WorkerConfig, 'shutdownGraceMs'>;
  lifecycle: Lifecycle;
  steps: Pick<StepRunner, 'size' | 'stopAll'>;
  /** Beats once more as the worker starts to drain, so the fleet sees it at once. */
  heartbeat: { beat(): Promise<void> };
  /** The queue consumer, once it runs. */
  consumer(): Pick<StepConsumer, 'close'> | undefined;
  /** Parts with timers (heartbeat, idle timeout, allocation end), stopped once no job is in hand. */
  timers: readonly { stop(): void }[];
  presence: Pick<Presence, 'remove'>;
  launcher: Pick<StepLauncher, 'close'>;
  connections: Pick<Connections, 'close'>;
  results: { readonly done: number };
  log: Logger;
}

export class Shutdown {
  readonly #p: ShutdownParts;
  #closing: Promise<void> | undefined;

  constructor(parts: ShutdownParts) {
    this.#p = parts;
  }

  /** WorkerHandle.close(); resolves once the worker has stopped. */
  close(options: CloseOptions = {}): Promise<void> {
    const { lifecycle } = this.#p;
    if (options.preempt) lifecycle.endOutcome = 'preempted';
    lifecycle.stopRequested();
    if (this.#closing) {
      this.#closeAgain(options);
      return this.#closing;
    }
    lifecycle.stopping = true;
    this.#closing = this.#stop(options);
    return this.#closing;
  }

  /** Closed again while stopping: a preempt stops the steps now; anything but a drain kills them. */
  #closeAgain(options: CloseOptions): void {
    const { steps, lifecycle, log } = this.#p;
    if (options.preempt) steps.stopAll('preempted', options.now === true);
    else if (!options.drain) {
      log.info({ steps: steps.size }, 'stopping now: killing running steps');
      steps.stopAll(lifecycle.endOutcome, true);
    }
  }

  async #stop(options: CloseOptions): Promise<void> {
    const { config, lifecycle, steps, log } = this.#p;
    const immediately = options.now === true;
    lifecycle.state = 'draining';
    const graceMs = options.preempt || immediately ? 0 : options.drain ? undefined : config.shutdownGraceMs;
    log.info(
      { steps: steps.size, graceMs, reason: options.preempt ? 'preempt' : options.drain ? 'drain' : 'stop' },
      'worker draining',
    );
    void this.#p.heartbeat.beat();
    const consumerClosed = this.#p.consumer()?.close();
    let cancelGrace: (() => void) | undefined;
    if (options.preempt) steps.stopAll('preempted', immediately);
    else if (immediately) steps.stopAll(lifecycle.endOutcome, true);
    else if (!options.drain) {
      cancelGrace = after(config.shutdownGraceMs, () => {
        if (steps.size > 0) log.info({ steps: steps.size }, 'shutdown grace over: interrupting running steps');
        steps.stopAll(lifecycle.endOutcome, false);
      });
    }
    try {
      await consumerClosed;
    } catch (err) {
      log.error({ err }, 'closing the queues failed');
    }
    cancelGrace?.();
    await this.#release();
    lifecycle.markStopped();
    log.info({ done: this.#p.results.done }, 'worker stopped');
  }

  /** With no job in hand: timers, the worker record, the launcher, Redis. */
  async #release(): Promise<void> {
    const { log } = this.#p;
    for (const part of this.#p.timers) part.stop();
    try {
      await withTimeout(this.#p.presence.remove(), EXIT_REDIS_TIMEOUT_MS);
    } catch (err) {
      log.warn({ err }, 'cannot remove the worker record; it expires by itself');
    }
    await this.#p.launcher.close();
    await this.#p.connections.close(EXIT_REDIS_TIMEOUT_MS);
  }
}
