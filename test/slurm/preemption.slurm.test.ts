/**
 * Allocations that end under running steps, against a real Slurm cluster on this machine: an
 * allocation scancelled, and one whose walltime runs out. No step is lost: each runs again (its
 * restart command, after a preemption) in a later allocation the autoscaler starts. A step whose
 * walltime no allocation can hold never starts and is reported.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { scancel, squeue, useClusterRedis } from '../helpers/slurm.js';
import { readStatus, statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
afterEach(killAll);

const newPrefix = (): string => `p${randomUUID().slice(0, 8)}`;
const redisFlags = cluster.flags;
const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];

function conductorLog(root: string): Record<string, unknown>[] {
  const file = path.join(root, 'meta/conductor.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const submittedAllocations = (root: string): string[] =>
  conductorLog(root)
    .filter((l) => l['msg'] === 'autoscale: allocation submitted')
    .map((l) => String(l['allocation']));

describe('allocations ending under running steps', () => {
  it('an allocation scancelled while a step runs: the step runs again in another one and the study finishes', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'cancelled',
      `study:
  - name: long
    description: runs until its allocation is cancelled the first time
    run:
      cmd: |
        echo "$SLURM_JOB_ID" >> runs.log
        if [ "$(wc -l < runs.log)" -eq 1 ]; then sleep 300; fi
`,
    );
    const run = startMaestro([
      'run',
      spec,
      '-o',
      root,
      ...redisFlags(),
      '--prefix',
      newPrefix(),
      '--autoscale',
      'slurm',
      '--walltime',
      '5',
    ]);
    const runs = path.join(root, 'long', 'runs.log');
    const first = await waitFor(() => lines(runs)[0], 90_000, 'the step to start');
    scancel(first);

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(statesByName(root)).toEqual({ long: 'FINISHED' });
    const jobs = lines(runs);
    expect(jobs).toHaveLength(2);
    expect(jobs[1]).not.toBe(first);
    expect(submittedAllocations(root)).toEqual(jobs);
    const handedBack = conductorLog(root).find((l) => l['msg'] === 'step handed back; running it again');
    expect(handedBack?.['outcome']).toBe('preempted');
    await waitFor(() => jobs.every((id) => !squeue().has(id)), 60_000, 'no allocation of ours left');
  });

  it('an allocation whose time runs out under a long step: PREEMPTED, its restart command finishes it in a later allocation; a step whose walltime no allocation holds is reported, never started', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'timeout',
      `study:
  - name: long
    description: far longer than its one-minute allocations
    run:
      cmd: |
        echo "cmd $SLURM_JOB_ID" >> runs.log
        sleep 600
      restart: |
        echo "restart $SLURM_JOB_ID" >> runs.log
  - name: toolong
    description: a walltime no allocation of one minute can hold
    run:
      cmd: echo ran > ran.txt
      walltime: "00:05:00"
`,
    );
    const run = startMaestro([
      'run',
      spec,
      '-o',
      root,
      ...redisFlags(),
      '--prefix',
      newPrefix(),
      '--autoscale',
      'slurm',
      '--walltime',
      '1',
    ]);
    const runs = path.join(root, 'long', 'runs.log');
    // The worker stops the step before Slurm's limit, hands it back, and exits (its margin is
    // at most half the minute); the autoscaler starts the next allocation, where the restart runs.
    await waitFor(
      () => existsSync(path.join(root, 'status.csv')) && statesByName(root)['long'] === 'FINISHED',
      150_000,
      'long to finish',
    );
    const [cmd, restart, ...rest] = lines(runs);
    expect(rest).toEqual([]);
    const firstJob = /^cmd (\d+)$/.exec(cmd ?? '')?.[1];
    const laterJob = /^restart (\d+)$/.exec(restart ?? '')?.[1];
    expect(firstJob, cmd).toBeDefined();
    expect(laterJob, restart).toBeDefined();
    expect(laterJob).not.toBe(firstJob);
    const handedBack = conductorLog(root).find((l) => l['msg'] === 'step handed back; running it again');
    expect(handedBack).toMatchObject({ outcome: 'preempted', message: `stopped: allocation ${firstJob} is ending` });
    expect(readStatus(root).find((r) => r.name === 'long')?.restarts).toBe(0); // not a timeout: no restart counted

    // toolong: reported, never started anywhere.
    const reports = conductorLog(root).filter((l) => l['step'] === 'toolong' && l['level'] === 40);
    expect(reports.map((l) => String(l['reason']))).toEqual(
      expect.arrayContaining([
        'no allocation the autoscaler starts can run it: its walltime 00:05:00 is longer than the 00:00:30 its workers have (--walltime 00:01:00 less their preemption margin)',
      ]),
    );
    await waitFor(
      () =>
        conductorLog(root).some(
          (l) =>
            l['step'] === 'toolong' &&
            /^its walltime 00:05:00 is longer than the time left of every live worker/.test(String(l['reason'])),
        ),
      60_000,
      'the report that no live worker has the time',
    );
    expect(statesByName(root)['toolong']).toBe('PENDING');
    // Told once, not at every look (its time left keeps changing).
    expect(conductorLog(root).filter((l) => l['step'] === 'toolong' && l['level'] === 40)).toHaveLength(2);
    expect(existsSync(path.join(root, 'toolong', 'ran.txt'))).toBe(false);

    const cancelled = await maestro(['cancel', root, ...redisFlags()]);
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    const result = await run;
    expect(result.exitCode, result.all).toBe(3);
    const submitted = submittedAllocations(root);
    expect(submitted).toEqual(expect.arrayContaining([firstJob, laterJob]));
    await waitFor(() => submitted.every((id) => !squeue().has(id)), 60_000, 'no allocation of ours left');
  });
});
