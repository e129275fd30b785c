/**
 * Merlin's return codes through `maestro run` as a user types it (the study's own Redis and local
 * workers, real shell steps): `exit $(MERLIN_RETRY)` retried after the step's retry_delay,
 * `$(MERLIN_SOFT_FAIL)` failing that instance only, `$(MERLIN_HARD_FAIL)` stopping the study;
 * `$(MERLIN_STOP_WORKERS)` with separate maestro-worker processes on a shared Redis.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startRun, startWorker } from '../helpers/processes.js';
import { readStatus, statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

const run = async (name: string, body: string) => {
  const cwd = tempDir();
  const root = path.join(cwd, 'study');
  const spec = writeSpec(cwd, name, body);
  const r = await maestro(['run', '-o', root, '--local-workers', '2', spec], { cwd, timeout: 120_000 });
  return { root, r, output: `${r.stdout}\n${r.stderr}` };
};

describe('Merlin return codes', () => {
  it('a step that exits $(MERLIN_RETRY) twice then 0 runs again after its retry_delay and ends FINISHED with 3 attempts', async () => {
    const { root, r, output } = await run(
      'retry',
      `study:
  - name: flaky
    description: asks for a retry twice
    run:
      cmd: |
        date +%s%3N >> starts
        n=$(wc -l < starts)
        if [ "$n" -le 2 ]; then date +%s%3N >> ends; exit $(MERLIN_RETRY); fi
      max_retries: 3
      retry_delay: 2
  - name: after
    description: runs once flaky finished
    run:
      cmd: cat $(flaky.workspace)/starts > seen
      depends: [flaky]
`,
    );
    expect(r.exitCode, output).toBe(0);
    expect(statesByName(root)).toEqual({ flaky: 'FINISHED', after: 'FINISHED' });
    const flaky = readStatus(root).find((x) => x.name === 'flaky')!;
    // Merlin's status counts each RETRY as a restart; the third run is the third attempt.
    expect(flaky.restarts).toBe(2);
    const ws = path.join(root, flaky.workspace);
    const starts = readFileSync(path.join(ws, 'starts'), 'utf8').trim().split('\n').map(Number);
    const ends = readFileSync(path.join(ws, 'ends'), 'utf8').trim().split('\n').map(Number);
    expect(starts).toHaveLength(3);
    expect(readFileSync(path.join(ws, 'flaky.sh'), 'utf8')).toContain('exit 104');
    // Each retry waited at least retry_delay (2 s) after the run before it ended: a lower bound
    // only, which a slow machine cannot break.
    for (const k of [0, 1]) expect(starts[k + 1]! - ends[k]!).toBeGreaterThanOrEqual(2000);
  });

  it('$(MERLIN_SOFT_FAIL) fails that instance only: its sibling instance, its dependents and other steps run', async () => {
    const { root, r, output } = await run(
      'soft',
      `study:
  - name: sim
    description: one of two soft-fails
    run:
      cmd: |
        if [ "$(N)" = 1 ]; then exit $(MERLIN_SOFT_FAIL); fi
        echo ok > out
  - name: post
    description: after each sim
    run:
      cmd: echo post > out
      depends: [sim]
  - name: gather
    description: after all sims
    run:
      cmd: echo gather > out
      depends: [sim_*]
global.parameters:
  N: {values: [1, 2], label: N.%%}
`,
    );
    expect(r.exitCode, output).toBe(2); // FAILURE, as Maestro's exit code for a study with a failure
    expect(statesByName(root)).toEqual({
      'sim_N.1': 'FAILED',
      'sim_N.2': 'FINISHED',
      'post_N.1': 'FINISHED',
      'post_N.2': 'FINISHED',
      gather: 'FINISHED',
    });
  });

  it('$(MERLIN_HARD_FAIL) stops the study: FAILURE, what stopped it told, nothing more started', async () => {
    const { root, r, output } = await run(
      'hard',
      `study:
  - name: first
    description: gives up for good
    run:
      cmd: exit $(MERLIN_HARD_FAIL)
  - name: child
    description: depends on first
    run:
      cmd: touch ran
      depends: [first]
  - name: slow
    description: independent, still running when first gives up
    run:
      cmd: sleep 60
  - name: later
    description: would run after slow
    run:
      cmd: touch ran
      depends: [slow]
`,
    );
    expect(r.exitCode, output).toBe(2);
    expect(r.stdout).toContain('Study FAILURE');
    expect(r.stdout).toContain('Stopped: first exited MERLIN_HARD_FAIL (102): the study stopped');
    expect(statesByName(root)).toEqual({ first: 'FAILED', child: 'FAILED', slow: 'CANCELLED', later: 'CANCELLED' });
    const status = await maestro(['status', root]);
    expect(status.stdout).toContain('Stopped: first exited MERLIN_HARD_FAIL (102): the study stopped');
    const json = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as { state: string };
    expect(json.state).toBe('FAILURE');
  });

  it('$(MERLIN_STOP_WORKERS) drains the workers; the study goes on once a worker comes back', async () => {
    const dir = tempDir();
    const prefix = `m${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'stopper',
      `study:
  - name: stopper
    description: asks the workers to stop
    run:
      cmd: exit $(MERLIN_STOP_WORKERS)
  - name: after
    description: runs once a worker of its queue is back
    run:
      cmd: touch ran
      task_queue: later
      depends: [stopper]
`,
    );
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    // Workers of the default queue only: `after` waits in its own queue, whenever they drain.
    const w1 = startWorker(redisUrl, prefix, 'first-one', ['--queues', 'steps']);
    const w2 = startWorker(redisUrl, prefix, 'first-two', ['--queues', 'steps']);
    // Both drain and exit; nothing ran `after`.
    expect((await w1).exitCode).toBe(0);
    expect((await w2).exitCode).toBe(0);
    expect(existsSync(path.join(root, 'after', 'ran'))).toBe(false);
    await waitFor(() => statesByName(root)['stopper'] === 'CANCELLED', 30_000, 'stopper to be CANCELLED');
    const second = startWorker(redisUrl, prefix, 'second', ['--queues', 'later']);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(3); // CANCELLED: Merlin's state for the step
    expect(statesByName(root)).toEqual({ stopper: 'CANCELLED', after: 'FINISHED' });
    expect(String(result.all)).toContain('MERLIN_STOP_WORKERS');
    second.kill('SIGTERM');
    expect((await second).exitCode).toBe(0);
  });
});
