/**
 * Bad-node quarantine, pure: which hosts fail runs far more often than the rest of the fleet, on
 * steps that succeed elsewhere. A black-hole node (broken PATH, full disk, dead GPU) fails fast,
 * so a pull-based fleet feeds it most of the work and every instance burns its attempts there;
 * this decides, per failed run, whether the attempt counts and whether the host is to be drained.
 *
 * Verdicts for a failed run on host h of step s:
 * - `quarantine`: h crossed the line now (at least `minFailures` failures on steps that succeeded
 *   on another host, at a rate `rateRatio` times the rest's, while another unquarantined host has
 *   succeeded at something): the run does not count, and h's workers are to stop taking work.
 * - `excused`: h is quarantined already, or is suspect (failing at `rateRatio` times the rest's
 *   rate, or failing while the rest has no verdict yet) and has not used up `maxExcused` excused
 *   failures (BLIND_EXCUSE_FACTOR times that while the rest has no result at all): the run does not
 *   count. The cap bounds the runs wasted when a step is broken everywhere and the rest of the
 *   fleet has simply not reported yet.
 * - `charged`: an ordinary failure, counted against the instance's attempts. With one host in
 *   sight (a local run), every failure is charged: there is nobody to compare with.
 */

import { parseQuarantines, type QuarantineEvidence } from '@maestro/protocol';

export type { QuarantineEvidence };

export interface QuarantineSettings {
  /** Failures on steps that succeeded elsewhere before a host can be quarantined. @default 3 */
  readonly minFailures: number;
  /** How many times the rest of the fleet's failure rate a host's must reach. @default 4 */
  readonly rateRatio: number;
  /**
   * Failures per host not counted against attempts while it is only suspect; past this every
   * failure there is charged until it is quarantined. @default 10
   */
  readonly maxExcused: number;
  /** Off: every failure is charged and nothing is quarantined. @default true */
  readonly enabled: boolean;
}

/** How many times maxExcused a suspect host is excused while the rest has not reported at all. */
export const BLIND_EXCUSE_FACTOR = 10;

export const DEFAULT_QUARANTINE: QuarantineSettings = Object.freeze({
  minFailures: 3,
  rateRatio: 4,
  maxExcused: 10,
  enabled: true,
});

export type FailureVerdict = 'charged' | 'excused' | 'quarantine';

interface HostTally {
  failures: number;
  successes: number;
  /** Failures excused while the rest had results, and while it had none yet. */
  excused: number;
  excusedBlind: number;
  /** Failures per step index. */
  readonly failedSteps: Map<number, number>;
  /** Steps with a success on this host. */
  readonly okSteps: Set<number>;
}

export class NodeHealth {
  readonly #settings: QuarantineSettings;
  readonly #hosts = new Map<string, HostTally>();
  readonly #quarantined = new Map<string, QuarantineEvidence>();
  #newlyQuarantined: string[] = [];
  readonly #changed: (json: string) => void;

  /**
   * `stored`: the quarantines as stored (StudyRecordField.quarantine, JSON), when resuming.
   * `changed` gets them as JSON on each quarantine and release, to be stored with the next commit.
   */
  constructor(
    settings: Partial<QuarantineSettings> = {},
    stored?: string,
    changed: (json: string) => void = () => undefined,
  ) {
    this.#settings = { ...DEFAULT_QUARANTINE, ...settings };
    this.#changed = changed;
    for (const e of parseQuarantines(stored)) this.#quarantined.set(e.host, e);
  }

  get settings(): QuarantineSettings {
    return this.#settings;
  }

  /** A host seen running work: the rest of the fleet it is compared with. */
  seen(host: string): void {
    this.#tally(host);
  }

  succeeded(host: string, step: number): void {
    const t = this.#tally(host);
    t.successes++;
    t.okSteps.add(step);
  }

  /** A failed run (non-zero exit or killed) of step `step` on `host`: whether it counts. */
  failed(host: string, step: number, nowMs: number): FailureVerdict {
    const t = this.#tally(host);
    t.failures++;
    t.failedSteps.set(step, (t.failedSteps.get(step) ?? 0) + 1);
    if (!this.#settings.enabled) return 'charged';
    if (this.#quarantined.has(host)) return 'excused';
    const e = this.#evidence(host, t, nowMs);
    const rest = e.runsElsewhere;
    const restRate = rest === 0 ? 0 : e.failuresElsewhere / rest;
    const rate = e.failures / e.runs;
    const outlier = rate >= this.#settings.rateRatio * restRate && rate > restRate;
    if (outlier && e.failuresOnStepsOkElsewhere >= this.#settings.minFailures && this.#healthyElsewhere(host)) {
      this.#quarantined.set(host, e);
      this.#newlyQuarantined.push(host);
      this.#changed(this.toJSON());
      return 'quarantine';
    }
    const others = this.#hosts.size - 1 - this.#quarantinedOthers(host);
    if (others > 0 && outlier) {
      // Before the rest has any result there is no verdict to weigh against: a fast-failing host
      // can race far ahead of a slow healthy one, so the cap is larger (BLIND_EXCUSE_FACTOR).
      const blind = rest === 0;
      const cap = blind ? BLIND_EXCUSE_FACTOR * this.#settings.maxExcused : this.#settings.maxExcused;
      const used = blind ? t.excusedBlind : t.excused;
      if (used < cap) {
        if (blind) t.excusedBlind++;
        else t.excused++;
        return 'excused';
      }
    }
    return 'charged';
  }

  isQuarantined(host: string): boolean {
    return this.#quarantined.has(host);
  }

  /** Ends a quarantine (`maestro workers release`); its tally starts afresh. Returns whether it was. */
  release(host: string): boolean {
    this.#hosts.delete(host);
    if (!this.#quarantined.delete(host)) return false;
    this.#changed(this.toJSON());
    return true;
  }

  toJSON(): string {
    return JSON.stringify(this.quarantined());
  }

  /** Hosts quarantined since the last call, for the conductor to drain. */
  takeNewlyQuarantined(): string[] {
    const out = this.#newlyQuarantined;
    this.#newlyQuarantined = [];
    return out;
  }

  quarantined(): QuarantineEvidence[] {
    return [...this.#quarantined.values()];
  }

  #tally(host: string): HostTally {
    let t = this.#hosts.get(host);
    if (!t) {
      t = { failures: 0, successes: 0, excused: 0, excusedBlind: 0, failedSteps: new Map(), okSteps: new Set() };
      this.#hosts.set(host, t);
    }
    return t;
  }

  /** Some other host, not quarantined, has succeeded: the work has somewhere to go. */
  #healthyElsewhere(host: string): boolean {
    for (const [h, t] of this.#hosts) if (h !== host && t.successes > 0 && !this.#quarantined.has(h)) return true;
    return false;
  }

  #quarantinedOthers(host: string): number {
    let n = 0;
    for (const h of this.#quarantined.keys()) if (h !== host && this.#hosts.has(h)) n++;
    return n;
  }

  #evidence(host: string, t: HostTally, nowMs: number): QuarantineEvidence {
    let failuresElsewhere = 0;
    let runsElsewhere = 0;
    const okElsewhere = new Set<number>();
    for (const [h, o] of this.#hosts) {
      // A quarantined host is not the norm the others are measured against.
      if (h === host || this.#quarantined.has(h)) continue;
      failuresElsewhere += o.failures;
      runsElsewhere += o.failures + o.successes;
      for (const s of o.okSteps) okElsewhere.add(s);
    }
    let failuresOnStepsOkElsewhere = 0;
    for (const [s, n] of t.failedSteps) if (okElsewhere.has(s)) failuresOnStepsOkElsewhere += n;
    const { failures } = t;
    return {
      host,
      failures,
      failuresOnStepsOkElsewhere,
      runs: failures + t.successes,
      failuresElsewhere,
      runsElsewhere,
      sinceMs: nowMs,
    };
  }
}
