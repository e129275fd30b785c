/**
 * The state machine under every order of events fast-check finds: workers that claim, report
 * any outcome, die, lose their job or its lock too often (BullMQ fails it as stalled), or reject
 * it; conductors that read part of the streams, put commits off, crash and resume from what they
 * committed; cancels at any moment. The world around the machine is modelled in
 * helpers/machine-world.ts.
 *
 * What must hold whatever the order: every success the fence accepted ends FINISHED and nothing
 * else does (a finished step is never recorded CANCELLED, and stays FINISHED); no step is claimed
 * before its parents succeeded; counters match the records; tries and restarts stay within their
 * limits, and a try counts a failure, never a lost lock; a failure fails its subtree; the study
 * ends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StepState, type Outcome } from '@maestro/protocol';
import type { BundlePolicy } from '../src/conductor/dispatch.js';
import type { ConductorLimits } from '../src/conductor/instance-machine.js';
import { InstanceRecords } from '../src/conductor/instance-records.js';
import { DIAMOND, expand, machineOf, result, sendAll, sweep } from './helpers/machine-study.js';
import { MachineWorld } from './helpers/machine-world.js';

const STUDIES = {
  diamond: DIAMOND,
  /** A sweep with a restart command, funnelled into one step, then one more. */
  funnel: `study:
  - {name: sim, description: d, run: {cmd: "$(P)", restart: "again $(P)", walltime: "1"}}
  - {name: gather, description: d, run: {cmd: "g", depends: [sim_*]}}
  - {name: report, description: d, run: {cmd: "r", depends: [gather]}}
global.parameters:
  P: {values: [0, 1, 2, 3], label: P.%%}
`,
  /** A line of steps: one chain job when bundles are on. */
  chain: `study:\n${Array.from({ length: 5 }, (_, k) => `  - {name: s${k}, description: d, run: {cmd: "c${k}"${k ? `, depends: [s${k - 1}]` : ''}}}`).join('\n')}\n`,
  /** Enough instances of one step to be bundled once timed. */
  sweep: sweep(80),
};

const outcomes: Outcome[] = ['succeeded', 'failed', 'timedout', 'interrupted', 'preempted', 'rejected', 'cancelled'];

type WorkerAction =
  | { t: 'take'; k: number; announce: boolean }
  | { t: 'report'; k: number; outcome: Outcome }
  | { t: 'die'; k: number; lost: boolean }
  | { t: 'stallOut'; k: number }
  | { t: 'reject'; k: number };

type Action =
  | WorkerAction
  /** A worker action that happens while the conductor waits for its `calls`-th Redis reply from now. */
  | { t: 'race'; act: WorkerAction; calls: number }
  | { t: 'read'; count: number }
  | { t: 'step'; defer: boolean }
  | { t: 'reconcile' }
  | { t: 'crash' }
  | { t: 'cancel' }
  | { t: 'tick'; ms: number };

const k = fc.nat({ max: 100 });
const outcomeArb = fc.oneof({ weight: 6, arbitrary: fc.constant<Outcome>('succeeded') }, fc.constantFrom(...outcomes));
/** Weights: mostly the work itself, now and then a fault. `faults` scales the rare ones. */
const workerActionArb = (faults: number): fc.Arbitrary<WorkerAction> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ t: fc.constant('take' as const), k, announce: fc.boolean() }) },
    { weight: 10, arbitrary: fc.record({ t: fc.constant('report' as const), k, outcome: outcomeArb }) },
    { weight: faults, arbitrary: fc.record({ t: fc.constant('die' as const), k, lost: fc.boolean() }) },
    { weight: faults, arbitrary: fc.record({ t: fc.constant('stallOut' as const), k }) },
    { weight: faults, arbitrary: fc.record({ t: fc.constant('reject' as const), k }) },
  );
const actionArb = (faults: number): fc.Arbitrary<Action> =>
  fc.oneof(
    { weight: 18 + 2 * faults, arbitrary: workerActionArb(faults) },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('race' as const),
        act: workerActionArb(faults),
        calls: fc.integer({ min: 1, max: 8 }),
      }),
    },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('read' as const), count: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('step' as const), defer: fc.boolean() }) },
    { weight: faults, arbitrary: fc.constant({ t: 'reconcile' as const }) },
    { weight: faults, arbitrary: fc.constant({ t: 'crash' as const }) },
    { weight: faults, arbitrary: fc.constant({ t: 'cancel' as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  );

const limitsArb: fc.Arbitrary<ConductorLimits> = fc.record({
  attempts: fc.integer({ min: 1, max: 3 }),
  rlimit: fc.integer({ min: 0, max: 2 }),
  throttle: fc.constantFrom(0, 0, 2),
});
const bundleArb: fc.Arbitrary<BundlePolicy | undefined> = fc.constantFrom(undefined, { maxSize: 4, targetMs: 200 });

function applyWorker(w: MachineWorld, a: WorkerAction): void {
  switch (a.t) {
    case 'take':
      w.take(a.k, a.announce);
      return;
    case 'report':
      // Workers report `cancelled` only for a study that was cancelled.
      w.report(a.k, a.outcome === 'cancelled' && !w.cancelAsked ? 'interrupted' : a.outcome);
      return;
    case 'die':
      w.die(a.k, a.lost);
      return;
    case 'stallOut':
      w.stallOut(a.k);
      return;
    case 'reject':
      w.reject(a.k);
      return;
    default: {
      const never: never = a;
      throw new Error(`unknown worker action ${JSON.stringify(never)}`);
    }
  }
}

async function apply(w: MachineWorld, a: Action): Promise<void> {
  switch (a.t) {
    case 'take':
    case 'report':
    case 'die':
    case 'stallOut':
    case 'reject':
      applyWorker(w, a);
      return;
    case 'race':
      w.racing.push({ calls: a.calls, act: () => applyWorker(w, a.act) });
      return;
    case 'read':
      await w.read(a.count);
      return;
    case 'step':
      await w.step(a.defer);
      return;
    case 'reconcile':
      await w.reconcile();
      return;
    case 'crash':
      await w.crash();
      return;
    case 'cancel':
      w.requestCancel();
      return;
    case 'tick':
      w.tick(a.ms);
      return;
    default: {
      const never: never = a;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

/** What must hold after any action. */
function problemsOf(w: MachineWorld): string[] {
  const problems = [...w.violations];
  const { m } = w;
  const r = m.records;
  const n = w.x.instanceCount;
  const counts = new Int32Array(16);
  let queued = 0;
  let running = 0;
  const committed = new InstanceRecords(w.committed.bytes, n);
  for (let i = 0; i < n; i++) {
    const s = r.state(i);
    counts[s]!++;
    if (s === StepState.PENDING) queued++;
    if (s === StepState.RUNNING) running++;
    if (s === StepState.FINISHED && !w.succeeded.has(i)) problems.push(`${i} FINISHED without a success`);
    if (committed.state(i) === StepState.FINISHED && s !== StepState.FINISHED)
      problems.push(`${i} was committed FINISHED, now ${s}`);
    if (s === StepState.FINISHED) {
      for (const p of w.parents[i]!)
        if (r.state(p) !== StepState.FINISHED) problems.push(`${i} FINISHED, parent ${p} not`);
    }
    if (s === StepState.CANCELLED && !w.cancelAsked) problems.push(`${i} CANCELLED with no cancel`);
    if (r.tries(i) > m.limits.attempts) problems.push(`${i} tried ${r.tries(i)} times`);
    if (r.tries(i) > w.failures[i]!) problems.push(`${i} tried ${r.tries(i)} times, failed ${w.failures[i]}`);
    if (m.limits.rlimit > 0 && r.restarts(i) > m.limits.rlimit) problems.push(`${i} restarted ${r.restarts(i)} times`);
  }
  if (counts.some((c, s) => c !== m.counts[s])) problems.push(`counts ${[...m.counts]} != ${[...counts]}`);
  if (queued !== m.queued || running !== m.running)
    problems.push(`in flight ${m.queued}/${m.running}, records ${queued}/${running}`);
  let perStep = 0;
  for (let s = 0; s < w.x.steps.length; s++) perStep += m.stepCounts(s).reduce((a, b) => a + b, 0);
  if (perStep !== n) problems.push(`step counts add up to ${perStep}`);
  return problems;
}

/** No more faults: workers run everything to success until the study ends. */
async function settle(w: MachineWorld): Promise<void> {
  for (let round = 0; round < 50 * w.x.instanceCount + 200; round++) {
    await w.read();
    await w.step(false);
    if (w.m.isDone()) return;
    if (w.active.length > 0) w.report(0, 'succeeded');
    else if (w.waiting.length > 0) w.take(0, round % 2 === 0);
    else {
      await w.reconcile();
      w.tick(w.o.cancelGraceMs + 1);
    }
  }
}

function finishedOf(w: MachineWorld): number[] {
  const out: number[] = [];
  for (let i = 0; i < w.x.instanceCount; i++) if (w.m.records.state(i) === StepState.FINISHED) out.push(i);
  return out;
}

async function check(
  study: string,
  limits: ConductorLimits,
  bundle: BundlePolicy | undefined,
  actions: Action[],
): Promise<void> {
  const x = expand(study);
  const w = await MachineWorld.start(x, { limits, window: limits.throttle ? 3 : 1000, bundle, cancelGraceMs: 1500 });
  let machine = w.m;
  let finished = finishedOf(w);
  for (const [step, a] of actions.entries()) {
    await apply(w, a);
    const problems = problemsOf(w);
    // Within one conductor's life, what it saw FINISHED stays FINISHED.
    if (w.m === machine) {
      for (const i of finished) if (w.m.records.state(i) !== StepState.FINISHED) problems.push(`${i} left FINISHED`);
    }
    expect(problems, `after action ${step} ${JSON.stringify(a)}`).toEqual([]);
    machine = w.m;
    finished = finishedOf(w);
  }
  await settle(w);
  expect(problemsOf(w)).toEqual([]);
  expect(w.m.isDone(), 'the study ends').toBe(true);
  // Every success the fence accepted is FINISHED, and nothing else is: the files steps wrote
  // match what the study says.
  expect(finishedOf(w)).toEqual([...w.succeeded].sort((a, b) => a - b));
  const c = w.m.counts;
  const failed = c[StepState.FAILED]! + c[StepState.TIMEDOUT]! > 0;
  expect(w.m.finalState()).toBe(w.m.cancelled ? 'CANCELLED' : failed ? 'FAILURE' : 'FINISHED');
}

describe('InstanceMachine under any order of events', () => {
  it('retries, restarts, preemption, hand-backs and subtree failure, with faults now and then', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(STUDIES.diamond, STUDIES.funnel, STUDIES.chain),
        limitsArb,
        bundleArb,
        fc.array(actionArb(1), { maxLength: 80, size: 'max' }),
        check,
      ),
      { numRuns: 300 },
    );
    // Hundreds of runs: well over vitest's 5 s on a loaded machine (CI saw it).
  }, 60_000);

  it('cancel, resume, results and worker deaths interleaved: finished results stay FINISHED', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(STUDIES.diamond, STUDIES.funnel, STUDIES.chain),
        limitsArb,
        bundleArb,
        fc.array(actionArb(6), { maxLength: 80, size: 'max' }),
        check,
      ),
      { numRuns: 300 },
    );
    // Hundreds of runs: well over vitest's 5 s on a loaded machine (CI saw it).
  }, 60_000);

  it('bundles of a timed sweep, with faults', async () => {
    await fc.assert(
      fc.asyncProperty(
        limitsArb.map((l) => ({ ...l, throttle: 0 })),
        fc.array(actionArb(2), { maxLength: 150, size: 'max' }),
        (limits, actions) => check(STUDIES.sweep, limits, { maxSize: 4, targetMs: 200 }, actions),
      ),
      { numRuns: 40 },
    );
    // Hundreds of runs: well over vitest's 5 s on a loaded machine (CI saw it).
  }, 60_000);

  it('the bug of issue #26: a cancel sent while no conductor runs, results reported meanwhile', async () => {
    // The first conductor sends everything and dies; workers go on, some steps finish; a cancel
    // arrives; the resumed conductor must record every success before it cancels the rest, and
    // so must it for the steps that finish while it cancels.
    const workerWork = fc.oneof(
      { weight: 2, arbitrary: fc.record({ t: fc.constant('take' as const), k, announce: fc.boolean() }) },
      {
        weight: 3,
        arbitrary: fc.record({
          t: fc.constant('report' as const),
          k,
          outcome: fc.constantFrom<Outcome>('succeeded', 'succeeded', 'cancelled', 'failed'),
        }),
      },
    );
    const work = fc.oneof(
      workerWork,
      fc.record({ t: fc.constant('race' as const), act: workerWork, calls: fc.integer({ min: 1, max: 8 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(STUDIES.diamond, STUDIES.funnel, STUDIES.chain, STUDIES.sweep),
        fc.array(fc.oneof(work, actionArb(0)), { maxLength: 40, size: 'max' }),
        fc.boolean(),
        fc.array(fc.oneof(work, actionArb(1)), { maxLength: 40, size: 'max' }),
        async (study, before, deferred, after) => {
          await check(study, { attempts: 1, rlimit: 1, throttle: 0 }, undefined, [
            { t: 'step', defer: deferred },
            ...before,
            { t: 'crash' },
            { t: 'cancel' },
            ...after,
          ]);
        },
      ),
      { numRuns: 200 },
    );
    // Hundreds of runs: well over vitest's 5 s on a loaded machine (CI saw it).
  }, 60_000);
});

describe('retry and restart accounting, against a model', () => {
  it('ends an instance as counted failures and timeouts decide; hand-backs never count', () => {
    const x = expand(`study:\n  - {name: s, description: d, run: {cmd: "x", restart: "r", walltime: "1"}}\n`);
    const plain = expand(`study:\n  - {name: s, description: d, run: {cmd: "x", walltime: "1"}}\n`);
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.constantFrom<Outcome>('failed', 'timedout', 'preempted', 'interrupted', 'rejected', 'succeeded'), {
          minLength: 1,
          maxLength: 30,
        }),
        (hasRestart, attempts, rlimit, sequence) => {
          const f = machineOf(hasRestart ? x : plain, { limits: { attempts, rlimit } });
          let failures = 0;
          let timeouts = 0;
          let expected: string | undefined;
          for (const [k, outcome] of sequence.entries()) {
            expect(sendAll(f)).toEqual([0]);
            f.m.applyEvent(result(0, k + 1, outcome), 1);
            if (outcome === 'succeeded') expected = 'FINISHED';
            else if (outcome === 'failed' || outcome === 'rejected') {
              if (++failures >= attempts) expected = 'FAILED';
            } else if (outcome === 'timedout') {
              if (!hasRestart) expected = 'TIMEDOUT';
              else if (rlimit !== 0 && timeouts >= rlimit) expected = 'FAILED';
              else timeouts++;
            }
            const rec = f.m.records.record(0);
            expect(rec.tries).toBe(failures);
            if (expected) {
              expect(StepState[expected as keyof typeof StepState]).toBe(rec.state);
              return;
            }
            expect([StepState.INITIALIZED, StepState.PREEMPTED]).toContain(rec.state);
            expect(rec.restarts).toBe(hasRestart ? timeouts : 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
