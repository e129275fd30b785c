/**
 * A study's row in the list (GET /api/studies), which is also the head of its detail: state,
 * counts, times, and an ETA from the rate at which instances reach a final state. The rate needs
 * samples over time, so one tracker per study lives as long as the server.
 */
import { etaMs, RateTracker } from './aggregate.js';
import type { StudyRecord } from './records.js';
import type { StudyListItem } from './views.js';

export class StudyRates {
  readonly #rates = new Map<string, RateTracker>();

  /** The row of `r`, whose final count `final` gives from its counts. */
  listItem(r: StudyRecord, now: number, final: (c: Record<string, number>) => number): StudyListItem {
    const done = final(r.counts);
    const rate = this.#rate(r, now, done);
    const ended = r.state !== 'RUNNING';
    const eta = ended ? 0 : etaMs(r.instanceCount, done, rate);
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      root: r.root,
      host: r.host,
      state: r.state,
      total: r.instanceCount,
      counts: r.counts,
      final: done,
      startedAt: r.startedMs ?? null,
      endedAt: r.endedMs ?? null,
      elapsedMs: r.startedMs === undefined ? null : (ended && r.endedMs ? r.endedMs : now) - r.startedMs,
      etaMs: eta ?? null,
      ratePerSec: Number(rate.toFixed(3)),
      problem: r.problem ?? null,
    };
  }

  #rate(r: StudyRecord, now: number, final: number): number {
    if (r.startedMs === undefined) return 0;
    let t = this.#rates.get(r.id);
    if (!t) {
      t = new RateTracker();
      this.#rates.set(r.id, t);
    }
    if (r.state === 'RUNNING') t.add(now, final);
    const end = r.state === 'RUNNING' ? now : (r.endedMs ?? now);
    return t.ratePerSec(end, r.startedMs, final);
  }
}
