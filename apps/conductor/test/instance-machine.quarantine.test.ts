/**
 * The state machine with a bad node in the fleet: failed runs there are not counted against the
 * instances' attempts and run again, so a study with `-a 1` still finishes on the good host.
 */
import { describe, expect, it } from 'vitest';
import { StepState } from '@maestro/protocol';
import { expand, machineOf, result, sendAll, started, sweep } from './helpers/machine-study.js';

describe('InstanceMachine with a bad node', () => {
  it('runs again, uncounted, what failed on a bad host, quarantines it, and finishes on the good one', () => {
    const f = machineOf(expand(sweep(8)), { limits: { attempts: 1 } });
    const { m } = f;
    const on = (host: string) => ({ worker: `w-${host}`, host });
    const sent = sendAll(f);
    expect(sent).toHaveLength(8);
    for (const i of sent) m.applyEvent({ ...started(i, 1), ...on(i % 2 ? 'bad' : 'good') }, 1);
    // The good host succeeds at instance 0; the bad one fails 1, 3, 5.
    m.applyEvent({ ...result(0, 1, 'succeeded'), ...on('good') }, 2);
    for (const i of [1, 3, 5]) m.applyEvent({ ...result(i, 1, 'failed', { exitCode: 127 }), ...on('bad') }, 3);
    expect(m.health.isQuarantined('bad')).toBe(true);
    expect(m.health.takeNewlyQuarantined()).toEqual(['bad']);
    for (const i of [1, 3, 5]) {
      expect(m.records.state(i)).toBe(StepState.INITIALIZED);
      expect(m.records.tries(i)).toBe(0);
    }
    // Quarantined: 7 fails there too, still uncounted.
    m.applyEvent({ ...result(7, 1, 'failed', { exitCode: 127 }), ...on('bad') }, 4);
    expect(m.records.tries(7)).toBe(0);
    for (const i of [2, 4, 6]) m.applyEvent({ ...result(i, 1, 'succeeded'), ...on('good') }, 5);
    const again = sendAll(f);
    expect(again.sort()).toEqual([1, 3, 5, 7]);
    for (const i of again) m.applyEvent({ ...result(i, 2, 'succeeded'), ...on('good') }, 6);
    expect(m.isDone()).toBe(true);
    expect(m.finalState()).toBe('FINISHED');
  });

  it('counts every failure when the whole fleet fails the step alike', () => {
    const f = machineOf(expand(sweep(4)), { limits: { attempts: 1 } });
    const { m } = f;
    const sent = sendAll(f);
    for (const i of sent) {
      const host = i % 2 ? 'a' : 'b';
      m.applyEvent({ ...started(i, 1), worker: host, host }, 1);
    }
    // b fails first, before a has a verdict: excused once (no one to compare with yet).
    m.applyEvent({ ...result(0, 1, 'failed'), worker: 'b', host: 'b' }, 2);
    expect(m.records.state(0)).toBe(StepState.INITIALIZED);
    // From here both fail alike: every failure counts.
    m.applyEvent({ ...result(1, 1, 'failed'), worker: 'a', host: 'a' }, 2);
    m.applyEvent({ ...result(2, 1, 'failed'), worker: 'b', host: 'b' }, 2);
    m.applyEvent({ ...result(3, 1, 'failed'), worker: 'a', host: 'a' }, 2);
    for (const i of [1, 2, 3]) expect(m.records.state(i)).toBe(StepState.FAILED);
    expect(sendAll(f)).toEqual([0]);
    m.applyEvent({ ...result(0, 2, 'failed'), worker: 'b', host: 'b' }, 3);
    expect(m.health.quarantined()).toEqual([]);
    expect(m.isDone()).toBe(true);
    expect(m.finalState()).toBe('FAILURE');
  });
});
