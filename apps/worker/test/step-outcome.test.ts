/** From how a step's process ended, and why the worker killed it, to the outcome it reports. */
import { describe, expect, it } from 'vitest';
import type { StepExit } from '../src/run-step.js';
import { killedFromOutside, outcomeOf, type OutcomeContext } from '../src/step-outcome.js';

const exit = (e: Partial<StepExit>): StepExit => ({ exitCode: null, signal: null, ...e });
const alone: OutcomeContext = { worker: 'w1', allocation: undefined, stopping: undefined };
const inAllocation: OutcomeContext = { worker: 'w1', allocation: '42', stopping: undefined };
const job = { timeoutMs: 90_000 };

describe('outcomeOf', () => {
  it('names what the worker killed a step for', () => {
    const killed = exit({ signal: 'SIGTERM' });
    expect(outcomeOf(killed, 'timedout', job, alone)).toEqual({
      outcome: 'timedout',
      message: 'killed at its walltime of 00:01:30',
    });
    expect(outcomeOf(killed, 'cancelled', job, alone)).toEqual({
      outcome: 'cancelled',
      message: 'killed: the study was cancelled',
    });
    for (const reason of ['interrupted', 'lock-lost'] as const) {
      expect(outcomeOf(killed, reason, job, alone)).toEqual({
        outcome: 'interrupted',
        message: 'killed: worker w1 shut down',
      });
    }
    expect(outcomeOf(killed, 'preempted', job, alone)).toEqual({
      outcome: 'preempted',
      message: 'stopped: worker w1 is ending',
    });
    expect(outcomeOf(killed, 'preempted', job, inAllocation)).toEqual({
      outcome: 'preempted',
      message: 'stopped: allocation 42 is ending',
    });
  });

  it('says a step that could not start failed, whatever else happened', () => {
    expect(outcomeOf(exit({ spawnError: 'cannot start /no/such: ENOENT' }), 'cancelled', job, alone)).toEqual({
      outcome: 'failed',
      message: 'cannot start /no/such: ENOENT',
    });
  });

  it('reports a step that ended on its own by its exit', () => {
    expect(outcomeOf(exit({ exitCode: 0 }), undefined, job, alone)).toEqual({ outcome: 'succeeded' });
    expect(outcomeOf(exit({ exitCode: 3 }), undefined, job, alone)).toEqual({
      outcome: 'failed',
      message: 'exited with code 3',
    });
    expect(outcomeOf(exit({ signal: 'SIGSEGV' }), undefined, job, alone)).toEqual({
      outcome: 'failed',
      message: 'killed by signal SIGSEGV, not sent by the worker',
    });
    expect(outcomeOf(exit({ signal: 'SIGTERM', fromStatus: 143 }), undefined, job, alone)).toEqual({
      outcome: 'failed',
      message: 'killed by signal SIGTERM, not sent by the worker (or it exited with status 143)',
    });
    expect(outcomeOf(exit({ statusLost: 'its launcher died' }), undefined, job, alone)).toEqual({
      outcome: 'failed',
      message: 'its exit status is lost: its launcher died',
    });
  });

  it('hands back a step killed from outside while its worker stops, as the worker itself reports', () => {
    const stopping = { ...inAllocation, stopping: 'preempted' as const };
    expect(outcomeOf(exit({ signal: 'SIGTERM' }), undefined, job, stopping)).toEqual({
      outcome: 'preempted',
      message: 'killed by SIGTERM while allocation 42 was stopping',
    });
    expect(outcomeOf(exit({ exitCode: 143 }), undefined, job, stopping)).toEqual({
      outcome: 'preempted',
      message: 'killed by SIGTERM (exit 143) while allocation 42 was stopping',
    });
    expect(
      outcomeOf(exit({ statusLost: 'its launcher died' }), undefined, job, { ...alone, stopping: 'interrupted' }),
    ).toEqual({
      outcome: 'interrupted',
      message: 'ended while worker w1 was stopping (its launcher died)',
    });
    // A crash is the step's own, stopping or not.
    expect(outcomeOf(exit({ signal: 'SIGSEGV' }), undefined, job, stopping).outcome).toBe('failed');
    expect(outcomeOf(exit({ exitCode: 1 }), undefined, job, stopping).outcome).toBe('failed');
  });
});

describe('killedFromOutside', () => {
  it('is true for the signals that end jobs, directly or as a shell status, and for a lost status', () => {
    for (const signal of ['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM'])
      expect(killedFromOutside(exit({ signal }))).toBe(true);
    for (const exitCode of [129, 130, 137, 143]) expect(killedFromOutside(exit({ exitCode }))).toBe(true);
    expect(killedFromOutside(exit({ statusLost: 'a signal reached its launcher as it ended' }))).toBe(true);
    expect(killedFromOutside(exit({ signal: 'SIGSEGV' }))).toBe(false);
    expect(killedFromOutside(exit({ exitCode: 139 }))).toBe(false);
    expect(killedFromOutside(exit({ exitCode: 1 }))).toBe(false);
  });
});
