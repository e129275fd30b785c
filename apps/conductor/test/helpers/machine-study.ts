/**
 * Pure fixtures for the state machine's tests: small expanded studies, a machine and dispatcher
 * over them, and the events workers send.
 */
import type { Outcome, StepEvent, StepResult, StepStarted } from '@maestro/protocol';
import { expandStudy, parseStudy, type ExpandedStudy } from '@maestro/spec';
import { Dispatcher, type BundlePolicy } from '../../src/conductor/dispatch.js';
import { InstanceMachine, type ConductorLimits, type InstanceNote } from '../../src/conductor/instance-machine.js';
import { InstanceRecords } from '../../src/conductor/instance-records.js';
import { retrySettingsOf } from '../../src/conductor/return-codes.js';

export function expand(yaml: string): ExpandedStudy {
  const { study } = parseStudy(`description: {name: t, description: test}\n${yaml}`);
  return expandStudy(study, { root: '/tmp/maestro-unit', specRoot: '/tmp', cwd: '/tmp' });
}

/** a -> (b, c) -> d, and `other` alone. */
export const DIAMOND = `study:
  - {name: a, description: d, run: {cmd: "a"}}
  - {name: b, description: d, run: {cmd: "b", depends: [a]}}
  - {name: c, description: d, run: {cmd: "c", depends: [a]}}
  - {name: d, description: d, run: {cmd: "d", depends: [b, c]}}
  - {name: other, description: d, run: {cmd: "other"}}
`;

/** A sweep of `n` instances of one step. */
export const sweep = (n: number): string =>
  `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: n }, (_, k) => k).join(',')}], label: P.%%}\n`;

export interface MachineFixture {
  readonly x: ExpandedStudy;
  readonly m: InstanceMachine;
  readonly d: Dispatcher;
  readonly notes: InstanceNote[];
}

export function machineOf(
  x: ExpandedStudy,
  options: {
    limits?: Partial<ConductorLimits>;
    bundle?: BundlePolicy;
    window?: number;
    bytes?: Uint8Array;
    workerNames?: string;
    /** A Merlin study: exit codes 100-106 are its requests. */
    merlin?: boolean;
  } = {},
): MachineFixture {
  const records = InstanceRecords.empty(x.instanceCount);
  if (options.bytes) records.replaceAll(options.bytes);
  const notes: InstanceNote[] = [];
  const m = new InstanceMachine(x, records, {
    limits: { attempts: 1, rlimit: 1, throttle: 0, ...options.limits },
    workerNames: options.workerNames,
    merlinRetries: options.merlin ? retrySettingsOf(x) : undefined,
    note: (n) => notes.push(n),
  });
  const d = new Dispatcher(m, { prefix: 'p', studyId: 's', window: options.window ?? 1000, bundle: options.bundle });
  return { x, m, d, notes };
}

export function started(index: number, attempt: number, run = 1, startMs = 1000): StepStarted {
  return { type: 'started', index, attempt, run, worker: 'w1', host: 'h', pid: 100 + index, startMs };
}

export function result(
  index: number,
  attempt: number,
  outcome: Outcome,
  extra: Partial<Omit<StepResult, 'type' | 'index' | 'attempt' | 'outcome'>> = {},
): StepEvent {
  return {
    type: 'result',
    index,
    attempt,
    run: 1,
    worker: 'w1',
    host: 'h',
    outcome,
    exitCode: outcome === 'succeeded' ? 0 : outcome === 'failed' ? 3 : null,
    signal: null,
    pid: 100 + index,
    startMs: 1000,
    endMs: 1010,
    ...extra,
  };
}

/** The instances the dispatcher sends now, each job's members flattened, in order. */
export function sendAll(f: MachineFixture, now = 2000): number[] {
  return f.d.next(now).flatMap((j) => [j.data.index, ...(j.data.more ?? []).map((mm) => mm.index)]);
}
