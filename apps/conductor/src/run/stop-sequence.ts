/**
 * How a running study stops before its end, whatever stops it, in an order that loses nothing.
 * The local workers and the embedded Redis run in their own process groups, so a Ctrl-C (which
 * signals the terminal's whole foreground group) reaches the conductor alone, and it is the
 * conductor that stops them, each at its turn:
 *
 * - interrupt(), a first SIGINT or SIGTERM: the local workers stop their running steps and hand
 *   them back (reported `interrupted`: not a failed attempt, they run again on resume) and exit;
 *   the conductor applies those results, commits and returns; conduct() then stops Redis, last.
 *   Bounded: workers still alive after the cancel grace are killed, and a conductor that cannot
 *   commit within COMMIT_WAIT_MS after that counts as having lost Redis.
 * - now(), a second signal: every local process is ended at once and this process exits.
 * - lost(), Redis died, stayed away or refuses writes: nothing can be handed back or committed.
 *   Local workers are killed (their launchers end their steps), and the conductor's connections
 *   dropped, so that whatever it waits for fails at once.
 *
 * Each path leaves the study resumable: what Redis holds is what `maestro resume` continues.
 */
import type { Logger } from 'pino';
import type { Conductor } from '../conductor/index.js';
import type { EmbeddedRedis, Redis } from '../redis/index.js';
import type { StudyWorkers } from './study-workers.js';

/** After the workers are gone, how long the conductor may take to apply their results and commit. */
const COMMIT_WAIT_MS = 10_000;
/** How long to wait for the results of the steps handed back to be applied before stopping. */
const HANDED_BACK_WAIT_MS = 2_000;
/**
 * The same signal again within this is the same request: `timeout` sends its SIGTERM to the
 * command and then to the command's whole group, so the conductor gets it twice at once. A
 * person pressing Ctrl-C twice is slower than this.
 */
const SAME_SIGNAL_MS = 100;

export interface StopSequenceOptions {
  readonly conductor: Pick<Conductor, 'stop' | 'progress'>;
  readonly workers: StudyWorkers | undefined;
  readonly embedded: EmbeddedRedis | undefined;
  /** The conductor's connections: dropped when Redis is lost. */
  readonly connections: readonly Redis[];
  readonly log: Logger;
  /** How long the local workers get to hand their steps back (`--cancel-grace`). */
  readonly graceMs: number;
}

export class StopSequence {
  #reason: string | undefined;
  #lost: string | undefined;
  #details: string | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #first: { signal: NodeJS.Signals; atMs: number } | undefined;
  #onLost!: (reason: string) => void;
  /**
   * Settles with the reason when Redis is lost. What waits on Redis may never settle then (a
   * connection dropped while reconnecting leaves its commands pending): race it against this.
   */
  readonly whenLost = new Promise<string>((resolve) => (this.#onLost = resolve));

  constructor(private readonly o: StopSequenceOptions) {}

  /** Why the study stopped before its end (undefined while nothing stopped it). */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** Set when Redis was lost: the sentence saying how. */
  get lostReason(): string | undefined {
    return this.#lost;
  }

  /** Lines to show after lostReason (the last lines of the embedded server's log). */
  get lostDetails(): string | undefined {
    return this.#details;
  }

  /** The first SIGINT/SIGTERM; a second one calls now(). */
  interrupt(signal: NodeJS.Signals): void {
    const first = this.#first;
    if (first && first.signal === signal && Date.now() - first.atMs < SAME_SIGNAL_MS) return;
    if (this.#reason !== undefined) return this.now(signal);
    this.#first = { signal, atMs: Date.now() };
    this.#reason = `interrupted (${signal})`;
    const { conductor, workers, log } = this.o;
    const running = conductor.progress().running;
    const again = signal === 'SIGINT' ? 'press Ctrl-C again' : `send ${signal} again`;
    const steps = `${running} running step${running === 1 ? '' : 's'}`;
    log.warn(
      { signal },
      running === 0
        ? `stopping: no step was running; ${again} to stop at once`
        : workers
          ? `stopping: ${steps} handed back; ${again} to stop at once`
          : `stopping: the workers keep the ${steps} and report them for the next conductor; ${again} to stop at once`,
    );
    void (async () => {
      if (workers) {
        await workers.stop(this.o.graceMs);
        // Their last results are in Redis: let the conductor apply them, so status shows them.
        const until = Date.now() + HANDED_BACK_WAIT_MS;
        while (conductor.progress().running > 0 && Date.now() < until && !this.#lost) {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      conductor.stop();
      this.#commitTimer = setTimeout(
        () => this.lost(`Redis did not answer while the study stopped (${COMMIT_WAIT_MS / 1000} s)`),
        COMMIT_WAIT_MS,
      );
      this.#commitTimer.unref();
    })();
  }

  /** A second signal: everything ends now. */
  now(signal: NodeJS.Signals): never {
    this.o.log.warn({ signal }, 'stopping at once');
    this.o.workers?.kill();
    this.o.embedded?.kill();
    process.exit(130);
  }

  /** Redis is gone, or refuses writes: stop everything that waits for it. */
  lost(reason: string, details?: string): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    this.#details = details;
    this.#reason = reason;
    this.o.workers?.kill();
    this.o.conductor.stop();
    for (const c of this.o.connections) c.disconnect();
    this.#onLost(reason);
  }

  /** The conductor returned: nothing more to bound. */
  settled(): void {
    clearTimeout(this.#commitTimer);
  }
}
