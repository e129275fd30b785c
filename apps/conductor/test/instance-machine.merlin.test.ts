/**
 * Merlin's return codes in the instance machine: retries and restarts after retry_delay up to
 * max_retries, soft and hard failures, stop-workers and raise-error, each as merlin_step in
 * merlin/common/tasks.py handles it; and a Maestro study, where the same codes are failures.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFinalState, STATE_FLAG_RELEASED, StepState, stepStateName } from '@maestro/protocol';
import type { InstanceMachine } from '../src/conductor/instance-machine.js';
import { retrySettingsOf } from '../src/conductor/return-codes.js';
import { expand, machineOf, result, type MachineFixture } from './helpers/machine-study.js';

const names = (m: InstanceMachine): Record<string, string> => {
  const out: Record<string, string> = {};
  for (let i = 0; i < m.expanded.instanceCount; i++)
    out[m.expanded.instanceName(i)] = stepStateName(m.records.state(i));
  return out;
};

/** sim (with the given run keys) -> post; and `other` alone. */
const chain = (run = ''): string => `study:
  - {name: sim, description: d, run: {cmd: "sim"${run}}}
  - {name: post, description: d, run: {cmd: "post", depends: [sim]}}
  - {name: other, description: d, run: {cmd: "other"}}
`;

/** The jobs sent now: index, kind and delay. */
const jobs = (f: MachineFixture, now = 1): { index: number; kind: string; delayMs: number | undefined }[] =>
  f.d.next(now).map((j) => ({ index: j.data.index, kind: j.data.kind, delayMs: j.delayMs }));

const exited = (index: number, attempt: number, exitCode: number) =>
  result(index, attempt, exitCode === 0 ? 'succeeded' : 'failed', { exitCode });

describe('InstanceMachine, Merlin return codes', () => {
  it('RETRY twice then 0: retried after retry_delay, FINISHED on the third attempt', () => {
    const f = machineOf(expand(chain(', retry_delay: 2, max_retries: 3')), { merlin: true });
    const { m } = f;
    expect(jobs(f)).toEqual([
      { index: 0, kind: 'cmd', delayMs: undefined },
      { index: 2, kind: 'cmd', delayMs: undefined },
    ]);
    m.applyEvent(exited(2, 1, 0), 1);
    m.applyEvent(exited(0, 1, 104), 1);
    expect(jobs(f)).toEqual([{ index: 0, kind: 'cmd', delayMs: 2000 }]);
    m.applyEvent(exited(0, 2, 104), 1);
    expect(jobs(f)).toEqual([{ index: 0, kind: 'cmd', delayMs: 2000 }]);
    m.applyEvent(exited(0, 3, 0), 1);
    expect(m.records.record(0)).toMatchObject({ state: StepState.FINISHED, attempt: 3, restarts: 2 });
    expect(jobs(f)).toEqual([{ index: 1, kind: 'cmd', delayMs: undefined }]);
    m.applyEvent(exited(1, 1, 0), 1);
    expect(m.finalState()).toBe('FINISHED');
    expect(f.notes.filter((n) => n.kind === 'merlin').map((n) => n.kind === 'merlin' && n.retries)).toEqual([0, 1]);
  });

  it("RESTART runs the step's restart command, or cmd when it has none; retry_delay defaults to 1 s", () => {
    const x = expand(`study:
  - {name: a, description: d, run: {cmd: "a", restart: "again"}}
  - {name: b, description: d, run: {cmd: "b", retry_delay: 0}}
`);
    const f = machineOf(x, { merlin: true });
    jobs(f);
    f.m.applyEvent(exited(0, 1, 100), 1);
    f.m.applyEvent(exited(1, 1, 100), 1);
    expect(jobs(f)).toEqual([
      { index: 1, kind: 'cmd', delayMs: undefined },
      { index: 0, kind: 'restart', delayMs: 1000 },
    ]);
    // A RETRY after a RESTART runs cmd again, as Merlin clears step.restart.
    f.m.applyEvent(exited(0, 2, 104), 1);
    expect(jobs(f)).toEqual([{ index: 0, kind: 'cmd', delayMs: 1000 }]);
  });

  it('retries used up are a soft failure: FAILED, and the workflow goes on', () => {
    const f = machineOf(expand(chain(', max_retries: 1')), { merlin: true });
    const { m } = f;
    jobs(f);
    m.applyEvent(exited(0, 1, 104), 1);
    jobs(f);
    m.applyEvent(exited(0, 2, 104), 1);
    expect(names(m)).toMatchObject({ sim: 'FAILED' });
    expect(jobs(f).map((j) => j.index)).toEqual([1]);
    const last = f.notes.at(-1);
    expect(last).toMatchObject({ kind: 'merlin', action: 'retry', retries: 1, maxRetriesReached: true });
  });

  it('SOFT_FAIL fails that instance only: its dependents and other steps run; the study ends FAILURE', () => {
    const f = machineOf(expand(chain()), { merlin: true });
    const { m } = f;
    jobs(f);
    m.applyEvent(exited(0, 1, 101), 1);
    m.applyEvent(exited(2, 1, 0), 1);
    expect(names(m)).toEqual({ sim: 'FAILED', post: 'INITIALIZED', other: 'FINISHED' });
    expect(jobs(f).map((j) => j.index)).toEqual([1]);
    m.applyEvent(exited(1, 1, 0), 1);
    expect(names(m)).toEqual({ sim: 'FAILED', post: 'FINISHED', other: 'FINISHED' });
    expect(m.isDone()).toBe(true);
    expect(m.finalState()).toBe('FAILURE');
    expect(m.failedInstances).toEqual([0]);
  });

  it('HARD_FAIL stops the study: that instance and its dependents FAILED, a cancel asked, the study FAILURE with why', () => {
    const f = machineOf(expand(chain()), { merlin: true });
    const { m } = f;
    jobs(f);
    m.applyEvent(exited(0, 1, 102), 1);
    expect(names(m)).toEqual({ sim: 'FAILED', post: 'FAILED', other: 'PENDING' });
    expect(m.cancelRequested).toBe(true);
    expect(m.stoppedBy).toBe('sim exited MERLIN_HARD_FAIL (102): the study stopped');
    expect(m.changes.take().fields['stoppedBy']).toBe(m.stoppedBy);
    m.cancel(100);
    m.settleCancel(() => 0);
    expect(names(m)).toEqual({ sim: 'FAILED', post: 'FAILED', other: 'CANCELLED' });
    expect(m.finalState()).toBe('FAILURE');
  });

  it('STOP_WORKERS asks once for the workers to stop; the instance is CANCELLED and its dependents still run', () => {
    const f = machineOf(expand(chain()), { merlin: true });
    const { m } = f;
    jobs(f);
    expect(m.takeStopWorkers()).toBe(false);
    m.applyEvent(exited(0, 1, 105), 1);
    expect(m.takeStopWorkers()).toBe(true);
    expect(m.takeStopWorkers()).toBe(false);
    expect(names(m)).toMatchObject({ sim: 'CANCELLED', post: 'INITIALIZED' });
    expect(jobs(f).map((j) => j.index)).toEqual([1]);
  });

  it('RAISE_ERROR is a failure Merlin does not retry, even with -a: its dependents never run', () => {
    const f = machineOf(expand(chain()), { merlin: true, limits: { attempts: 3 } });
    jobs(f);
    f.m.applyEvent(exited(0, 1, 106), 1);
    expect(names(f.m)).toMatchObject({ sim: 'FAILED', post: 'FAILED' });
    expect(f.m.cancelRequested).toBe(false);
  });

  it('in a Maestro study the same codes are failures, retried by -a only', () => {
    const f = machineOf(expand(chain()), { limits: { attempts: 2 } });
    jobs(f);
    f.m.applyEvent(exited(0, 1, 101), 1);
    expect(jobs(f)).toEqual([{ index: 0, kind: 'cmd', delayMs: undefined }]);
    f.m.applyEvent(exited(0, 2, 104), 1);
    expect(names(f.m)).toMatchObject({ sim: 'FAILED', post: 'FAILED' });
  });

  it('a resumed conductor sends the dependents of a soft-failed instance', () => {
    const f = machineOf(expand(chain()), { merlin: true });
    jobs(f);
    f.m.applyEvent(exited(0, 1, 101), 1);
    expect(f.m.records.flags(0) & STATE_FLAG_RELEASED).toBe(STATE_FLAG_RELEASED);
    const again = machineOf(f.x, { merlin: true, bytes: f.m.records.bytes.slice() });
    expect(jobs(again).map((j) => j.index)).toEqual([1]);
  });

  it('under any sequence of exit codes and resumes: only what may run is sent, counts match, the study ends', () => {
    const x = expand(`study:
  - {name: sim, description: d, run: {cmd: "$(P)", restart: "again", max_retries: 2, retry_delay: 1}}
  - {name: post, description: d, run: {cmd: "post", depends: [sim]}}
  - {name: gather, description: d, run: {cmd: "g", depends: [sim_*]}}
global.parameters:
  P: {values: [0, 1, 2], label: P.%%}
`);
    const codes = [0, 0, 0, 1, 100, 101, 102, 104, 105, 106];
    const RELEASED = STATE_FLAG_RELEASED;
    const limits = retrySettingsOf(x); // sim 2, the others Merlin's 30
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 120 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        (exits, resumes) => {
          let f = machineOf(x, { merlin: true });
          let e = 0;
          for (let round = 0; round < 200 && !f.m.isDone(); round++) {
            const { m } = f;
            if (m.cancelRequested && !m.cancelled) {
              m.cancel(0);
              m.settleCancel(() => 0);
            }
            const sent = f.d.next(1).flatMap((j) => [j.data.index, ...(j.data.more ?? []).map((mm) => mm.index)]);
            for (const i of sent) {
              // Sent only once every parent FINISHED, or ended and let the workflow go on.
              for (const p of x.parentsOf(i)) {
                const r = m.records;
                expect(r.state(p) === StepState.FINISHED || (r.flags(p) & RELEASED) !== 0).toBe(true);
              }
              const code = exits[e++ % exits.length]!;
              m.applyEvent(result(i, m.records.attempt(i), code === 0 ? 'succeeded' : 'failed', { exitCode: code }), 1);
              expect(m.records.restarts(i)).toBeLessThanOrEqual(limits[x.stepIndexOf(i)]!.maxRetries);
            }
            // Counters match the records.
            const counts = new Int32Array(16);
            for (let i = 0; i < x.instanceCount; i++) counts[m.records.state(i)]!++;
            expect([...m.counts]).toEqual([...counts]);
            // A conductor resumed from the records (nothing in flight) carries on alike.
            if (resumes[round] && m.queued + m.running === 0 && !m.cancelRequested)
              f = machineOf(x, { merlin: true, bytes: m.records.bytes.slice() });
          }
          const { m } = f;
          expect(m.isDone()).toBe(true);
          for (let i = 0; i < x.instanceCount; i++) expect(isFinalState(m.records.state(i))).toBe(true);
          const c = m.counts;
          const expected =
            m.stoppedBy !== undefined
              ? 'FAILURE'
              : m.cancelled || c[StepState.CANCELLED]! > 0
                ? 'CANCELLED'
                : c[StepState.FAILED]! > 0
                  ? 'FAILURE'
                  : 'FINISHED';
          expect(m.finalState()).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
