/**
 * The job runner with stand-ins for the fence and the step runner, on a driven clock: the
 * disposition of each job (handed back, given back, rejected, done), the hold while there is no
 * room, and a bundle stopped at its budget.
 */
import { describe, expect, it, vi } from 'vitest';
import { PROTOCOL_VERSION, type BundleMember, type StepJobInput, type StepResult } from '@maestro/protocol';
import { WorkerError, WorkerErrorCode } from '../src/errors.js';
import { JobRunner, type JobRunnerParts } from '../src/job-runner.js';
import type { WorkerState } from '../src/lifecycle.js';
import type { DeliveredJob } from '../src/queue/consumer.js';
import type { Fence, RunRef } from '../src/queue/fence.js';
import type { Redis } from '../src/redis.js';
import { Results } from '../src/results.js';
import { Slots } from '../src/slots.js';
import { captureLogs } from './helpers.js';

const HOUR = 3_600_000;

function jobRunner(over: { stopAt?: number; cores?: number; stepMs?: number; scheduler?: 'local' | 'slurm' } = {}) {
  let t = 1_000_000;
  const logs = captureLogs('info');
  const claims: string[] = [];
  const reports: StepResult[] = [];
  const fence = {
    claim: async (ref: RunRef) => {
      claims.push(`${ref.studyId}:${ref.index}`);
      return { claimed: true as const, run: 1 };
    },
    report: async (_ref: RunRef, result: StepResult) => {
      reports.push(result);
      return true;
    },
    reportAndClaim: async (_reported: RunRef, result: StepResult, ref: RunRef) => {
      reports.push(result);
      claims.push(`${ref.studyId}:${ref.index}`);
      return { accepted: true, claim: { claimed: true as const, run: 1 } };
    },
  } as Partial<Fence> as Fence;
  const config = {
    prefix: 'p',
    announceDelayMs: 0,
    simulate: false,
    simulateStepMs: 0,
    cores: over.cores ?? 2,
    gpuIds: [],
    nodes: 1,
    scheduler: over.scheduler ?? 'local',
    name: 'w1',
    host: 'h',
    allocationId: undefined,
  };
  const results = new Results(fence, config, logs.logger, () => t);
  const lifecycle = { state: 'running' as WorkerState };
  const idle = { touch: vi.fn(), jobTaken: vi.fn(), jobDone: vi.fn() };
  const hold = vi.fn();
  const ran: number[] = [];
  const parts: JobRunnerParts = {
    config,
    redis: { exists: async () => 0 } as Partial<Redis> as Redis,
    fence,
    presence: { joinStudy: async () => undefined },
    results,
    steps: {
      run: async (_key, job, ref, run, stepLog) => {
        ran.push(job.index);
        const startMs = t;
        t += over.stepMs ?? 1_000;
        return results.ended(ref, run, { outcome: 'succeeded', exitCode: 0, signal: null, pid: 1, startMs }, stepLog);
      },
      isLockLost: () => false,
      forgetLock: () => undefined,
    },
    slots: new Slots(config.cores, []),
    allocation: {
      fits: (timeoutMs) => timeoutMs === undefined || over.stopAt === undefined || t + timeoutMs <= over.stopAt,
      secondsLeft: () => Math.max(0, Math.floor(((over.stopAt ?? 0) - t) / 1000)),
    },
    lifecycle,
    idle,
    log: logs.logger,
    now: () => t,
    hold,
  };
  const runner = new JobRunner(parts);
  let id = 0;
  const deliver = (data: unknown): DeliveredJob => {
    id++;
    return { queue: 'steps', id: `j${id}`, key: `steps/j${id}`, data, lock: undefined, queuedAtMs: undefined };
  };
  return { runner, parts, logs, claims, reports, ran, lifecycle, idle, hold, deliver };
}

const job = (input: Partial<StepJobInput> & { index: number }): StepJobInput => ({
  protocol: PROTOCOL_VERSION,
  prefix: 'p',
  studyId: 's1',
  attempt: 1,
  name: `step_${input.index}`,
  workspace: `/tmp/ws/step_${input.index}`,
  fileName: `step_${input.index}`,
  kind: 'cmd',
  interpreter: ['/bin/bash'],
  script: '#!/bin/bash\ntrue\n',
  ...input,
});

const member = (index: number): BundleMember => ({
  index,
  attempt: 1,
  name: `step_${index}`,
  workspace: `/tmp/ws/step_${index}`,
  fileName: `step_${index}`,
  kind: 'cmd',
  script: '#!/bin/bash\ntrue\n',
  env: {},
});

describe('JobRunner', () => {
  it('runs a job it has room for, reports it, and counts it as work', async () => {
    const x = jobRunner();
    expect(await x.runner.process(x.deliver(job({ index: 0 })))).toBe('done');
    expect(x.ran).toEqual([0]);
    expect(x.claims).toEqual(['s1:0']);
    expect(x.reports.map((r) => [r.index, r.outcome])).toEqual([[0, 'succeeded']]);
    expect(x.idle.jobDone).toHaveBeenCalledWith(true);
  });

  it('hands back, logged once, a job it can never run or whose walltime outlasts its time', async () => {
    const x = jobRunner({ stopAt: 1_000_000 + HOUR, scheduler: 'slurm' });
    const big = x.deliver(job({ index: 0, resources: { procs: 4 } }));
    expect(await x.runner.process(big)).toBe('later');
    expect(await x.runner.process(big)).toBe('later');
    expect(await x.runner.process(x.deliver(job({ index: 1, timeoutMs: 2 * HOUR })))).toBe('later');
    expect(x.ran).toEqual([]);
    expect(x.logs.lines.map((l) => l['reason'])).toEqual([
      'it can never run on this worker: needs 4 cores on a node (the worker has 2)',
      'its walltime 02:00:00 does not fit the 01:00:00 this worker has left',
    ]);
    expect(x.idle.jobDone).toHaveBeenCalledWith(false);
  });

  it('gives a job back while the worker drains, or while its cores are taken, and holds until room is made', async () => {
    const x = jobRunner({ cores: 1 });
    let release!: () => void;
    const running = x.parts.steps.run;
    x.parts.steps.run = async (...args) => {
      await new Promise<void>((r) => (release = r));
      return running(...args);
    };
    const first = x.runner.process(x.deliver(job({ index: 0 })));
    await vi.waitFor(() => expect(release).toBeDefined());
    expect(await x.runner.process(x.deliver(job({ index: 1 })))).toBe('give-back');
    expect(await x.runner.process(x.deliver(job({ index: 2 })))).toBe('give-back');
    expect(x.hold.mock.calls).toEqual([[true]]);
    release();
    expect(await first).toBe('done');
    expect(x.hold.mock.calls).toEqual([[true], [false]]);

    x.lifecycle.state = 'draining';
    expect(await x.runner.process(x.deliver(job({ index: 3 })))).toBe('give-back');
    expect(x.claims).toEqual(['s1:0']);
  });

  it('rejects a malformed job for good, saying what is wrong with it', async () => {
    const x = jobRunner();
    const rejected = x.runner.process(x.deliver({ ...job({ index: 0 }), protocol: 999 }));
    await expect(rejected).rejects.toThrow(WorkerError);
    await expect(rejected).rejects.toMatchObject({
      code: WorkerErrorCode.JobRejected,
      message: expect.stringMatching(/^not a step job this worker can run \(protocol \d+\): protocol: /),
    });
    expect(x.claims).toEqual([]); // its study does not exist here: nothing to tell
  });

  it('stops a bundle at its budget, on the worker clock, and sends the rest back unstarted', async () => {
    const x = jobRunner({ stepMs: 1_000 });
    const bundle = job({ index: 0, more: [member(1), member(2), member(3)], bundleBudgetMs: 1_500 });
    expect(await x.runner.process(x.deliver(bundle))).toBe('done');
    expect(x.ran).toEqual([0, 1]);
    expect(x.reports.map((r) => [r.index, r.outcome])).toEqual([
      [0, 'succeeded'],
      [1, 'succeeded'],
      [2, 'interrupted'],
      [3, 'interrupted'],
    ]);
    expect(x.reports[2]!.message).toBe(
      'not started: its bundle had run 2000 ms, past its budget of 1500 ms; sent back to run apart',
    );
  });
});
