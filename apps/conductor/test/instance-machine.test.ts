/**
 * The instance state machine without Redis: each transition by example (retries, restarts after
 * timeouts, preemption, hand-backs, subtree failure, cancel, adoption, reconciliation, resume).
 * The orders of events are explored in instance-machine.property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { STATE_FLAG_RESTART, StepState, stepStateName } from '@maestro/protocol';
import type { InstanceMachine } from '../src/conductor/instance-machine.js';
import { DIAMOND, expand, machineOf, result, sendAll, started, sweep } from './helpers/machine-study.js';

const names = (m: InstanceMachine): Record<string, string> => {
  const out: Record<string, string> = {};
  for (let i = 0; i < m.expanded.instanceCount; i++)
    out[m.expanded.instanceName(i)] = stepStateName(m.records.state(i));
  return out;
};

describe('InstanceMachine', () => {
  it('sends roots first, children once their parents finished, and ends FINISHED', () => {
    const f = machineOf(expand(DIAMOND));
    const { m } = f;
    expect(sendAll(f)).toEqual([0, 4]); // a, other
    m.applyEvent(started(0, 1), 2000);
    expect(m.records.state(0)).toBe(StepState.RUNNING);
    m.applyEvent(result(0, 1, 'succeeded'), 2100);
    m.applyEvent(result(4, 1, 'succeeded'), 2100);
    expect(sendAll(f)).toEqual([1, 2]);
    m.applyEvent(result(1, 1, 'succeeded'), 2200);
    expect(sendAll(f)).toEqual([]); // d waits for c
    m.applyEvent(result(2, 1, 'succeeded'), 2200);
    expect(sendAll(f)).toEqual([3]);
    m.applyEvent(result(3, 1, 'succeeded'), 2300);
    expect(m.isDone()).toBe(true);
    expect(m.finalState()).toBe('FINISHED');
    expect(m.counts[StepState.FINISHED]).toBe(5);
    expect([m.queued, m.running]).toEqual([0, 0]);
  });

  it('fails the subtree of a step that failed for good; other branches finish (FAILURE)', () => {
    const f = machineOf(expand(DIAMOND));
    const { m } = f;
    sendAll(f);
    m.applyEvent(result(0, 1, 'succeeded'), 1);
    m.applyEvent(result(4, 1, 'succeeded'), 1);
    sendAll(f);
    m.applyEvent(result(1, 1, 'failed', { exitCode: 3 }), 1);
    expect(names(m)).toMatchObject({ b: 'FAILED', d: 'FAILED', c: 'PENDING' });
    m.applyEvent(result(2, 1, 'succeeded'), 1);
    expect(sendAll(f)).toEqual([]);
    expect(m.finalState()).toBe('FAILURE');
    expect(m.records.record(1).exitCode).toBe(3);
    expect(m.failedInstances).toEqual([1, 3]);
    expect(f.notes.map((n) => n.kind)).toEqual(['failed']);
  });

  it('retries a failing step as new attempts until -a, counting tries', () => {
    const f = machineOf(expand(sweep(1)), { limits: { attempts: 3 } });
    const { m } = f;
    for (const attempt of [1, 2]) {
      expect(sendAll(f)).toEqual([0]);
      m.applyEvent(result(0, attempt, 'failed'), 1);
      expect(m.records.state(0)).toBe(StepState.INITIALIZED);
    }
    expect(sendAll(f)).toEqual([0]);
    m.applyEvent(result(0, 3, 'failed'), 1);
    expect(m.records.record(0)).toMatchObject({ state: StepState.FAILED, tries: 3, attempt: 3 });
    expect(f.notes.map((n) => n.kind)).toEqual(['retrying', 'retrying', 'failed']);
  });

  it('runs the restart command after a timeout up to -r, then FAILED; without one TIMEDOUT', () => {
    const x = expand(`study:
  - {name: sim, description: d, run: {cmd: "sim", restart: "again", walltime: "1"}}
  - {name: plain, description: d, run: {cmd: "p", walltime: "1"}}
`);
    const f = machineOf(x, { limits: { rlimit: 2 } });
    const { m, d } = f;
    const kinds: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      for (const job of d.next(1)) if (job.data.index === 0) kinds.push(job.data.kind);
      m.applyEvent(result(0, attempt, 'timedout'), 1);
      if (attempt === 1) m.applyEvent(result(1, 1, 'timedout'), 1);
    }
    expect(kinds).toEqual(['cmd', 'restart', 'restart']);
    expect(names(m)).toEqual({ sim: 'FAILED', plain: 'TIMEDOUT' });
    expect(m.records.record(0).restarts).toBe(2);
    expect(m.records.flags(0) & STATE_FLAG_RESTART).toBeTruthy();
  });

  it('an rlimit of 0 restarts without limit', () => {
    const f = machineOf(
      expand(`study:\n  - {name: s, description: d, run: {cmd: "x", restart: "r", walltime: "1"}}\n`),
      {
        limits: { rlimit: 0 },
      },
    );
    for (let attempt = 1; attempt <= 20; attempt++) {
      expect(sendAll(f)).toEqual([0]);
      f.m.applyEvent(result(0, attempt, 'timedout'), 1);
    }
    expect(f.m.records.record(0)).toMatchObject({ state: StepState.INITIALIZED, restarts: 20 });
  });

  it('runs a preempted step again as PREEMPTED, through its restart command, without counting a try', () => {
    const x = expand(`study:
  - {name: sim, description: d, run: {cmd: "sim", restart: "resume"}}
  - {name: plain, description: d, run: {cmd: "p"}}
`);
    const f = machineOf(x);
    const { m, d } = f;
    d.next(1);
    m.applyEvent(started(0, 1), 1);
    m.applyEvent(result(0, 1, 'preempted'), 1);
    m.applyEvent(result(1, 1, 'preempted'), 1);
    expect(names(m)).toEqual({ sim: 'PREEMPTED', plain: 'PREEMPTED' });
    const jobs = d.next(1).map((j) => [j.data.index, j.data.attempt, j.data.kind]);
    expect(jobs.sort()).toEqual([
      [0, 2, 'restart'],
      [1, 2, 'cmd'],
    ]);
    expect(m.records.record(0).tries).toBe(0);
  });

  it('a step handed back unstarted (pid 0) records no run; one interrupted mid-run does', () => {
    const f = machineOf(expand(sweep(2)));
    const { m } = f;
    sendAll(f);
    m.applyEvent(result(0, 1, 'interrupted', { pid: 0, startMs: 5, endMs: 6 }), 1);
    expect(m.records.record(0)).toMatchObject({ state: StepState.INITIALIZED, startMs: 0, endMs: 0, pid: 0 });
    m.applyEvent(result(1, 1, 'interrupted', { pid: 77, startMs: 5, endMs: 6 }), 1);
    expect(m.records.record(1)).toMatchObject({ state: StepState.INITIALIZED, startMs: 5, endMs: 6, pid: 77 });
    expect(sendAll(f)).toEqual([1, 0]); // both again (retries go first: last handed back first)
  });

  it('ignores stale attempts, and takes the next attempt of an earlier conductor as sent (adoption)', () => {
    const f = machineOf(expand(sweep(2)), { limits: { attempts: 2 } });
    const { m } = f;
    sendAll(f);
    m.applyEvent(result(0, 1, 'failed'), 1);
    expect(m.records.state(0)).toBe(StepState.INITIALIZED);
    // Attempt 2 was sent by a conductor that died before writing it: its result counts.
    m.applyEvent(result(0, 2, 'succeeded'), 1);
    expect(m.records.record(0)).toMatchObject({ state: StepState.FINISHED, attempt: 2 });
    expect(f.notes.map((n) => n.kind)).toEqual(['retrying', 'adopted']);
    m.applyEvent(result(1, 7, 'succeeded'), 1); // neither its attempt nor the next
    m.applyEvent(result(1, 0, 'succeeded'), 1); // an older one
    expect(m.records.state(1)).toBe(StepState.PENDING);
  });

  it('a finished step stays FINISHED: later results, replays, cancel and its deadline change nothing', () => {
    const f = machineOf(expand(sweep(3)));
    const { m } = f;
    sendAll(f);
    m.applyEvent(result(0, 1, 'succeeded'), 1);
    for (const outcome of ['failed', 'cancelled', 'interrupted', 'timedout'] as const) {
      m.applyEvent(result(0, 1, outcome), 1);
      m.applyEvent(result(0, 2, outcome), 1);
    }
    m.cancel(100);
    m.settleCancel(() => 0);
    m.abandon(m.cancelExpired(1000));
    expect(m.records.record(0)).toMatchObject({ state: StepState.FINISHED, attempt: 1 });
    expect(names(m)).toEqual({ 's_P.0': 'FINISHED', 's_P.1': 'CANCELLED', 's_P.2': 'CANCELLED' });
    expect(m.finalState()).toBe('CANCELLED');
  });

  it('cancel: nothing more is sent; unclaimed queued ones CANCELLED, claimed ones end by their result', () => {
    const x = expand(`study:
  - {name: s, description: d, run: {cmd: "$(P)"}}
  - {name: after, description: d, run: {cmd: "x", depends: [s_*]}}
global.parameters:
  P: {values: [0, 1, 2, 3], label: P.%%}
`);
    const f = machineOf(x, { limits: { attempts: 3 } });
    const { m } = f;
    expect(sendAll(f)).toEqual([0, 1, 2, 3]);
    m.applyEvent(started(0, 1), 1); // running
    // 1 was claimed but not announced yet; 2 and 3 wait in the queue.
    m.cancel(5000);
    expect(sendAll(f)).toEqual([]);
    expect(m.changes.take().fields).toMatchObject({ cancelled: '1' });
    const queued = m.settleCancel((i) => (i === 1 ? 1 : 0));
    expect(queued).toEqual([2, 3]);
    expect(names(m)).toMatchObject({
      's_P.0': 'RUNNING',
      's_P.1': 'PENDING',
      's_P.2': 'CANCELLED',
      after: 'CANCELLED',
    });
    m.applyEvent(result(1, 1, 'succeeded'), 2);
    m.applyEvent(result(0, 1, 'failed'), 2); // no retry once cancelled
    expect(names(m)).toMatchObject({ 's_P.0': 'FAILED', 's_P.1': 'FINISHED' });
    expect(m.isDone()).toBe(true);
    expect(m.finalState()).toBe('CANCELLED');
  });

  it('cancel: what is still in flight past the deadline is CANCELLED; a hand-back is CANCELLED at once', () => {
    const f = machineOf(expand(sweep(3)));
    const { m } = f;
    sendAll(f);
    m.applyEvent(started(0, 1), 1);
    m.applyEvent(started(1, 1), 1);
    m.cancel(5000);
    expect(m.settleCancel(() => 0)).toEqual([2]);
    m.applyEvent(result(1, 1, 'preempted'), 2);
    expect(m.records.state(1)).toBe(StepState.CANCELLED);
    expect(m.cancelExpired(5000)).toEqual([]);
    expect(m.records.state(0)).toBe(StepState.RUNNING);
    const late = m.cancelExpired(5001);
    expect(late).toEqual([0]);
    // Its fence entry goes first: a result accepted before that commit still counts.
    expect(m.changes.take().fenceDeletes).toContain(0);
    expect(m.records.state(0)).toBe(StepState.RUNNING);
    expect(m.abandon(late)).toEqual([0]);
    expect(m.isDone()).toBe(true);
  });

  it('reconciliation: a lost job runs again, a job failed in the queue is a failed try', () => {
    const f = machineOf(expand(sweep(3)), { limits: { attempts: 2 } });
    const { m } = f;
    sendAll(f);
    m.lost(0, 1);
    m.failedInQueue(1, 1, 'rejected in the queue', 3000);
    expect(m.records.record(0)).toMatchObject({ state: StepState.INITIALIZED, tries: 0 });
    expect(m.records.record(1)).toMatchObject({ state: StepState.INITIALIZED, tries: 1, endMs: 3000, exitCode: -1 });
    expect(sendAll(f)).toEqual([1, 0]);
    m.failedInQueue(1, 1, 'about an older attempt', 4000);
    expect(m.records.state(1)).toBe(StepState.PENDING);
    m.failedInQueue(1, 2, 'rejected again', 4000);
    expect(m.records.state(1)).toBe(StepState.FAILED);
    expect(f.notes.at(-1)).toMatchObject({ kind: 'failed', index: 1, worker: '', message: 'rejected again' });
    m.cancel(0);
    m.lost(2, 1); // cancelled: not sent again
    expect(m.records.state(2)).toBe(StepState.CANCELLED);
  });

  it('resumes from stored records: counts, in-flight and ready instances, worker names', () => {
    const x = expand(DIAMOND);
    const one = machineOf(x);
    sendAll(one);
    one.m.applyEvent(result(0, 1, 'succeeded'), 1);
    sendAll(one); // b and c sent, other still queued
    one.m.applyEvent(started(1, 1), 1);
    const two = machineOf(x, { bytes: one.m.records.bytes.slice(), workerNames: one.m.workers.toJSON() });
    expect(names(two.m)).toEqual(names(one.m));
    expect([two.m.queued, two.m.running]).toEqual([2, 1]);
    expect(two.m.ready.size).toBe(0);
    expect(two.m.workers.name(two.m.records.record(1).worker)).toBe('w1');
    two.m.applyEvent(result(1, 1, 'succeeded'), 1);
    expect(sendAll(two)).toEqual([]);
    two.m.applyEvent(result(2, 1, 'succeeded'), 1);
    expect(sendAll(two)).toEqual([3]);
  });

  it('updates limits and writes them with the next commit', () => {
    const f = machineOf(expand(sweep(4)), { limits: { throttle: 1 } });
    expect(sendAll(f)).toEqual([0]);
    f.m.updateLimits({ throttle: 3 });
    expect(sendAll(f)).toEqual([1, 2]);
    expect(f.m.changes.take().fields).toMatchObject({ throttle: '3', rlimit: '1', attempts: '1' });
  });

  it('notes an event for an instance the study does not have, and ignores it', () => {
    const f = machineOf(expand(sweep(1)));
    f.m.applyEvent(result(5, 1, 'succeeded'), 1);
    expect(f.notes).toEqual([{ kind: 'unknown-instance', index: 5 }]);
  });
});
