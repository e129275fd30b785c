/**
 * The study lease: one conductor drives a study at a time. Taken at the start (waiting for the
 * lease of a conductor that died to lapse), renewed in the background, and given back at the
 * end; every commit checks it too (StudyStore.commit).
 */
import type { Logger } from 'pino';
import type { StudyStore } from '../redis/index.js';
import {
  LEASE_POLL_MS,
  LEASE_RENEW_MIN_MS,
  LEASE_RENEWALS_PER_TTL,
  LEASE_RENEWED_BY_MS,
  LEASE_WAIT_EXTRA_MS,
} from './timing.js';

export class ConductorBusyError extends Error {
  override readonly name = 'ConductorBusyError';
  constructor(readonly holder: string) {
    const [host, pid] = holder.split(':');
    super(`another conductor (host ${host}, pid ${pid}) is driving this study; only one may run it at a time`);
  }
}

export interface LeaseOptions {
  readonly store: Pick<StudyStore, 'acquireLease' | 'renewLease' | 'releaseLease'>;
  readonly ttlMs: number;
  readonly log: Logger;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

export class StudyLease {
  readonly #o: LeaseOptions;
  #timer: NodeJS.Timeout | undefined;
  #lost = false;

  constructor(options: LeaseOptions) {
    this.#o = options;
  }

  /** Whether another conductor took the lease: this one must stop (LeaseLostError). */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * Takes the lease, waiting for a dead holder's to lapse; then renews it in the background.
   * @throws ConductorBusyError when a live conductor holds it (it renews it), or it does not lapse in time.
   */
  async take(): Promise<void> {
    const { store, ttlMs, now } = this.#o;
    const deadline = now() + ttlMs + LEASE_WAIT_EXTRA_MS;
    let lastTtl: number | undefined;
    for (;;) {
      const r = await store.acquireLease(ttlMs);
      if (r.acquired) break;
      // A conductor that died leaves its lease until it expires; a live one renews it, which
      // shows as its time-to-live going up again.
      if ((lastTtl !== undefined && r.ttlMs > lastTtl + LEASE_RENEWED_BY_MS) || now() > deadline) {
        throw new ConductorBusyError(r.holder);
      }
      if (lastTtl === undefined) {
        this.#o.log.info(
          { holder: r.holder, ttlMs: r.ttlMs },
          'the study lease is held: waiting to see whether its conductor is alive',
        );
      }
      lastTtl = r.ttlMs;
      await this.#o.sleep(LEASE_POLL_MS);
    }
    this.#timer = setInterval(
      () => {
        store.renewLease(ttlMs).then(
          (ok) => {
            if (!ok) this.#lost = true;
          },
          (err: unknown) => this.#o.log.warn({ err }, 'could not renew the study lease; retrying'),
        );
      },
      Math.max(LEASE_RENEW_MIN_MS, Math.floor(ttlMs / LEASE_RENEWALS_PER_TTL)),
    );
    this.#timer.unref();
  }

  /** Renews the lease now (Redis may have lost it with its data); false if another conductor holds it. */
  async renewNow(): Promise<boolean> {
    return this.#o.store.renewLease(this.#o.ttlMs);
  }

  /** Stops renewing and gives the lease back, unless another conductor has it. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#lost) await this.#o.store.releaseLease().catch(() => undefined);
  }
}
