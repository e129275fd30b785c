/**
 * The step runner with a stand-in launcher that starts `sleep` in its own process group: why it
 * kills a step (walltime, cancel, lost lock, the worker's stop), that a step starting after the
 * fact is killed at once, and the runs that end before a step could start.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PROTOCOL_VERSION, StepJob, type StepJobInput } from '@maestro/protocol';
import { Lifecycle } from '../src/lifecycle.js';
import type { Fence } from '../src/queue/fence.js';
import { Results } from '../src/results.js';
import type { StepExit, StepLauncher } from '../src/run-step.js';
import { StepRunner } from '../src/step-runner.js';
import { captureLogs, liveGroupMembers, tempDir } from './helpers.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Starts `sleep 30` (or fails to start, for an interpreter named `missing`) in its own group. */
const sleepLauncher: StepLauncher = {
  spawnStep(o) {
    if (o.interpreter[0] === 'missing') {
      const exit: StepExit = { exitCode: null, signal: null, spawnError: 'cannot start missing: ENOENT' };
      return { started: Promise.resolve(undefined), exited: Promise.resolve(exit) };
    }
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    started.push(child.pid!);
    return {
      started: new Promise((resolve) => child.once('spawn', () => resolve(child.pid))),
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => resolve({ exitCode: code, signal, groupEmpty: true })),
      ),
    };
  },
  close: async () => undefined,
};

function runner(cancelled: (job: { studyId: string; index: number }) => boolean = () => false) {
  const logs = captureLogs('info');
  const lifecycle = new Lifecycle();
  const config = {
    name: 'w1',
    host: 'h',
    allocationId: undefined,
    scheduler: 'local' as const,
    node: undefined,
    gpuIds: [],
    killGraceMs: 200,
  };
  const results = new Results({} as Fence, config, logs.logger, Date.now);
  const steps = new StepRunner({
    config,
    launcher: sleepLauncher,
    results,
    lifecycle,
    control: { isCancelled: cancelled },
    log: logs.logger,
    now: Date.now,
  });
  const root = tempDir();
  const job = (input: Partial<StepJobInput> = {}): StepJob =>
    StepJob.parse({
      protocol: PROTOCOL_VERSION,
      prefix: 'p',
      studyId: 's1',
      index: 0,
      attempt: 1,
      name: 'step_0',
      workspace: path.join(root, 'step_0'),
      fileName: 'step_0',
      kind: 'cmd',
      interpreter: ['/bin/bash'],
      script: '#!/bin/bash\nsleep 30\n',
      ...input,
    });
  const run = (j: StepJob, key = 'steps/1') =>
    steps.run(key, j, { studyId: j.studyId, index: j.index, attempt: j.attempt }, 1, logs.logger, {
      cores: 1,
      gpuIds: [],
    });
  return { steps, lifecycle, logs, job, run };
}

/** Resolves once `steps` has a step running. */
const running = (steps: StepRunner) => vi.waitFor(() => expect(steps.size).toBe(1));

describe('StepRunner', () => {
  it('kills a step at its walltime, its whole group, and reports it timed out', async () => {
    const { steps, job, run } = runner();
    const end = await run(job({ timeoutMs: 300 }));
    expect(end?.fields).toMatchObject({
      outcome: 'timedout',
      signal: 'SIGTERM',
      message: 'killed at its walltime of 00:00:01',
    });
    expect(liveGroupMembers(end!.fields.pid)).toEqual([]);
    expect(steps.size).toBe(0);
  });

  it('kills the running steps of a cancelled study, and says how many', async () => {
    let cancelled = false;
    const { steps, job, run } = runner(() => cancelled);
    const ending = run(job());
    await running(steps);
    expect(steps.killCancelled()).toBe(0);
    cancelled = true;
    expect(steps.killCancelled()).toBe(1);
    expect((await ending)?.fields).toMatchObject({ outcome: 'cancelled', message: 'killed: the study was cancelled' });
  });

  it('kills a step whose lock was lost and returns no end to report', async () => {
    const { steps, job, run, logs } = runner();
    const ending = run(job(), 'steps/7');
    await running(steps);
    steps.lockLost('steps/7');
    steps.lockLost('steps/7'); // BullMQ says it again at every renewal round
    expect(await ending).toBeUndefined();
    expect(steps.isLockLost('steps/7')).toBe(true);
    steps.forgetLock('steps/7');
    expect(steps.isLockLost('steps/7')).toBe(false);
    expect(
      logs.lines.filter((l) => l['msg'] === 'lock lost: the step may be re-delivered to another worker'),
    ).toHaveLength(1);
  });

  it('stops the running steps as the worker ends, and any step that starts after that at once', async () => {
    const { steps, lifecycle, job, run } = runner();
    const ending = run(job());
    await running(steps);
    lifecycle.endOutcome = 'preempted';
    steps.stopAll('preempted', true);
    expect((await ending)?.fields).toMatchObject({ outcome: 'preempted', signal: 'SIGKILL' });
    expect((await run(job({ index: 1 })))?.fields).toMatchObject({ outcome: 'preempted' });
  });

  it('kills at once a step that starts after a cancel or after its lock was lost', async () => {
    const cancelledAtStart = runner(() => true);
    expect((await cancelledAtStart.run(cancelledAtStart.job()))?.fields.outcome).toBe('cancelled');
    const lockLostAtStart = runner();
    lockLostAtStart.steps.lockLost('steps/9');
    expect(await lockLostAtStart.run(lockLostAtStart.job(), 'steps/9')).toBeUndefined();
  });

  it('fails a run whose step cannot start, or whose workspace cannot be made, saying why', async () => {
    const { job, run } = runner();
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, '');
    expect((await run(job({ interpreter: ['missing'] })))?.fields).toEqual({
      outcome: 'failed',
      exitCode: null,
      signal: null,
      pid: 0,
      startMs: expect.any(Number),
      message: 'cannot start missing: ENOENT',
    });
    expect((await run(job({ workspace: path.join(file, 'step_0') })))?.fields).toMatchObject({
      outcome: 'failed',
      message: `cannot create ${path.join(file, 'step_0')}: ENOTDIR (not a directory)`,
    });
  });
});
