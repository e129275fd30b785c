/**
 * Bad-node detection without Redis: by example, then by property over orders of results (a
 * broken host is found within a bounded number of its failures, a fleet that fails alike never
 * quarantines anyone, a lone host is never judged).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuarantines } from '@maestro/protocol';
import { NodeHealth, type FailureVerdict } from '../src/conductor/quarantine.js';
import { quarantineSettings } from '../src/cli/common.js';

describe('NodeHealth', () => {
  it('quarantines a host failing steps that succeed elsewhere, with the evidence', () => {
    const h = new NodeHealth();
    h.seen('bad');
    h.seen('good');
    h.succeeded('good', 0);
    expect(h.failed('bad', 0, 10)).toBe('excused');
    expect(h.failed('bad', 0, 11)).toBe('excused');
    expect(h.failed('bad', 0, 12)).toBe('quarantine');
    expect(h.takeNewlyQuarantined()).toEqual(['bad']);
    expect(h.takeNewlyQuarantined()).toEqual([]);
    expect(h.quarantined()).toEqual([
      {
        host: 'bad',
        failures: 3,
        failuresOnStepsOkElsewhere: 3,
        runs: 3,
        failuresElsewhere: 0,
        runsElsewhere: 1,
        sinceMs: 12,
      },
    ]);
    // Quarantined: what it still reports does not count either.
    expect(h.failed('bad', 1, 13)).toBe('excused');
  });

  it('charges every failure of a lone host', () => {
    const h = new NodeHealth();
    for (let k = 0; k < 20; k++) expect(h.failed('only', 0, k)).toBe('charged');
    expect(h.quarantined()).toEqual([]);
  });

  it('does not quarantine a host whose failures are on steps that fail everywhere', () => {
    const h = new NodeHealth();
    h.succeeded('a', 0);
    h.succeeded('b', 0);
    for (let k = 0; k < 5; k++) expect(h.failed('a', 1, k)).toBe('excused');
    // b fails step 1 too: the rates are alike, a is no outlier any more.
    for (let k = 0; k < 5; k++) h.failed('b', 1, k);
    expect(h.failed('a', 1, 9)).toBe('charged');
    expect(h.quarantined()).toEqual([]);
  });

  it('needs the rate ratio: a host failing twice as often as the rest stays', () => {
    const h = new NodeHealth({ rateRatio: 4 });
    // Round after round, a fails 1 run in 4 and b 2 in 4: b at twice a's rate.
    for (let round = 0; round < 10; round++) {
      for (const ok of [true, true, true, false]) {
        if (ok) h.succeeded('a', 0);
        else expect(h.failed('a', 0, round)).toBe('charged');
      }
      for (const ok of [true, false, true, false]) {
        if (ok) h.succeeded('b', 0);
        else expect(h.failed('b', 0, round)).toBe('charged');
      }
    }
    expect(h.quarantined()).toEqual([]);
  });

  it('stops excusing a suspect host after maxExcused failures (ten times that while the rest has no result)', () => {
    const h = new NodeHealth({ maxExcused: 2 });
    h.seen('bad');
    h.seen('silent'); // never reports: no verdict to compare with
    const blind = Array.from({ length: 21 }, (_, k) => h.failed('bad', 0, k));
    expect(blind.slice(0, 20).every((v) => v === 'excused')).toBe(true);
    expect(blind[20]).toBe('charged');
    const other = new NodeHealth({ maxExcused: 2 });
    other.succeeded('slow', 1); // a result, on another step: a verdict, but not on step 0
    expect([0, 1, 2, 3].map((k) => other.failed('bad', 0, k))).toEqual(['excused', 'excused', 'charged', 'charged']);
  });

  it('never quarantines the last host that succeeds', () => {
    const h = new NodeHealth();
    h.succeeded('a', 0);
    for (let k = 0; k < 3; k++) h.failed('b', 0, k);
    expect(h.isQuarantined('b')).toBe(true);
    // a now fails against nobody healthy: nothing left to run elsewhere.
    for (let k = 0; k < 20; k++) expect(h.failed('a', 0, k)).not.toBe('quarantine');
    expect(h.isQuarantined('a')).toBe(false);
  });

  it('release ends a quarantine and starts the tally afresh', () => {
    const h = new NodeHealth();
    h.succeeded('good', 0);
    for (let k = 0; k < 3; k++) h.failed('bad', 0, k);
    expect(h.release('bad')).toBe(true);
    expect(h.release('bad')).toBe(false);
    expect(h.isQuarantined('bad')).toBe(false);
    expect(h.failed('bad', 0, 5)).toBe('excused');
    expect(h.isQuarantined('bad')).toBe(false);
  });

  it('restores stored quarantines', () => {
    const stored = new NodeHealth();
    stored.succeeded('good', 0);
    for (let k = 0; k < 3; k++) stored.failed('bad', 0, k);
    const h = new NodeHealth({}, stored.toJSON());
    expect(h.isQuarantined('bad')).toBe(true);
    expect(h.failed('bad', 0, 9)).toBe('excused');
  });

  it('tells each change as JSON, and reads it back, dropping what is not evidence', () => {
    const told: string[] = [];
    const h = new NodeHealth({}, undefined, (json) => told.push(json));
    h.succeeded('good', 0);
    for (let k = 0; k < 3; k++) h.failed('bad', 0, k);
    h.release('bad');
    expect(told.map((j) => parseQuarantines(j).map((e) => e.host))).toEqual([['bad'], []]);
    expect(parseQuarantines('[{"host":"x","failures":4},{"nohost":1},7]')).toEqual([
      {
        host: 'x',
        failures: 4,
        failuresOnStepsOkElsewhere: 0,
        runs: 0,
        failuresElsewhere: 0,
        runsElsewhere: 0,
        sinceMs: 0,
      },
    ]);
    expect(parseQuarantines('not json')).toEqual([]);
  });

  it('with quarantine off, charges everything', () => {
    const h = new NodeHealth({ enabled: false });
    h.succeeded('good', 0);
    for (let k = 0; k < 10; k++) expect(h.failed('bad', 0, k)).toBe('charged');
  });
});

const hosts = ['h0', 'h1', 'h2'] as const;
/** A result: host index, step index. */
const results = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), {
  maxLength: 120,
});

describe('NodeHealth properties', () => {
  it('a fleet whose outcome depends only on the step quarantines nobody', () => {
    fc.assert(
      fc.property(results, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), (rs, stepOk) => {
        const h = new NodeHealth();
        for (const [k, [host, step]] of rs.entries()) {
          if (stepOk[step]) h.succeeded(hosts[host]!, step);
          else expect(h.failed(hosts[host]!, step, k)).not.toBe('quarantine');
        }
        expect(h.quarantined()).toEqual([]);
      }),
    );
  });

  it('a host failing everything while the rest succeed is quarantined within minFailures failures after the rest succeed, never charged', () => {
    fc.assert(
      fc.property(results, fc.integer({ min: 1, max: 5 }), (rs, minFailures) => {
        const h = new NodeHealth({ minFailures, maxExcused: 1000 });
        for (const host of hosts) h.seen(host);
        let afterGood = 0; // bad's failures on step 0 since a good host succeeded at it
        let goodSucceeded = false;
        let quarantinedAt = -1;
        // The bad host (h0) runs only step 0 here, the good ones everything.
        for (const [k, [host, step]] of rs.entries()) {
          if (host === 0) {
            const v: FailureVerdict = h.failed('h0', 0, k);
            expect(v).not.toBe('charged');
            if (goodSucceeded) afterGood++;
            if (v === 'quarantine') quarantinedAt = afterGood;
          } else {
            h.succeeded(hosts[host]!, step);
            if (step === 0) goodSucceeded = true;
          }
        }
        if (afterGood >= minFailures) {
          expect(h.isQuarantined('h0')).toBe(true);
          expect(quarantinedAt).toBeLessThanOrEqual(minFailures);
        }
        expect(h.isQuarantined('h1') || h.isQuarantined('h2')).toBe(false);
      }),
    );
  });

  it('never quarantines every host that has reported, and charges a lone host always', () => {
    fc.assert(
      fc.property(results, fc.array(fc.boolean(), { maxLength: 120 }), (rs, oks) => {
        const h = new NodeHealth({ minFailures: 1, rateRatio: 1.5 });
        const lone = new NodeHealth();
        const reported = new Set<string>();
        for (const [k, [host, step]] of rs.entries()) {
          const name = hosts[host]!;
          reported.add(name);
          if (oks[k]) h.succeeded(name, step);
          else h.failed(name, step, k);
          if (oks[k]) lone.succeeded('solo', step);
          else expect(lone.failed('solo', step, k)).toBe('charged');
        }
        if (reported.size > 0) expect(h.quarantined().length).toBeLessThan(reported.size);
      }),
    );
  });
});

describe('quarantineSettings (--quarantine-min-failures, --quarantine-ratio)', () => {
  it('defaults, turns off at 0 min failures, and excuses at least as many failures as it takes to decide', () => {
    expect(quarantineSettings({})).toEqual({ enabled: true, minFailures: 3, rateRatio: 4, maxExcused: 10 });
    expect(quarantineSettings({ quarantineMinFailures: 0 }).enabled).toBe(false);
    expect(quarantineSettings({ quarantineMinFailures: 20, quarantineRatio: 2.5 })).toEqual({
      enabled: true,
      minFailures: 20,
      rateRatio: 2.5,
      maxExcused: 20,
    });
  });
});
