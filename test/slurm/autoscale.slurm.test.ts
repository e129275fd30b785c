/**
 * `maestro run --autoscale slurm` against a real Slurm cluster on this machine: allocations start
 * while work waits and are all released when the study ends; a failing sbatch backs off and is
 * reported, never submitting in a loop; steps too large for its allocations are refused.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { jobsNamed, squeue, useClusterRedis } from '../helpers/slurm.js';
import { conductorLogLines, readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
afterEach(killAll);

const newPrefix = (): string => `a${randomUUID().slice(0, 8)}`;
const redisFlags = cluster.flags;

const fanout = `study:
  - name: work
    description: two cores each, a little while
    run:
      cmd: |
        echo "$SLURM_JOB_ID" > job.txt # instance $(N)
        sleep 2
      procs: 2
global.parameters:
  N: {values: [1, 2, 3, 4, 5, 6, 7, 8], label: N.%%}
`;

describe('maestro run --autoscale slurm', () => {
  it('starts allocations while work waits; the study finishes and none of them is left', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'scaled', fanout);
    const r = await maestro(
      [
        'run',
        spec,
        '-o',
        root,
        ...redisFlags(),
        '--prefix',
        prefix,
        '--autoscale',
        'slurm',
        '--max-allocations',
        '2',
        '--nodes-per-allocation',
        '1',
        '--walltime',
        '5',
      ],
      { timeout: 200_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = readStatus(root);
    expect(rows.map((row) => row.state)).toEqual(Array(8).fill('FINISHED'));

    const submitted = conductorLogLines(root, /^autoscale: allocation submitted$/).map((l) => String(l['allocation']));
    expect(submitted.length).toBeGreaterThanOrEqual(1);
    expect(submitted.length).toBeLessThanOrEqual(2);
    // Every step ran in one of them.
    const jobs = new Set(rows.map((row) => readFileSync(path.join(root, row.workspace, 'job.txt'), 'utf8').trim()));
    expect([...jobs].every((j) => submitted.includes(j))).toBe(true);
    // Released with the study: none of ours is left in squeue.
    expect(conductorLogLines(root, /^autoscale: study over; allocations released$/)).toHaveLength(1);
    await waitFor(() => submitted.every((id) => !squeue().has(id)), 60_000, 'the allocations to leave squeue');
    const listed = JSON.parse(
      (await maestro(['workers', 'list', '--json', ...redisFlags(), '--prefix', prefix])).stdout,
    ) as {
      allocations: { id: string; state: string; origin: string }[];
    };
    expect(listed.allocations.map((a) => [a.id, a.state, a.origin])).toEqual(
      submitted.map((id) => [id, 'ended', 'autoscale']),
    );
  });

  it('backs off and reports when sbatch fails, submitting nothing in a loop', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'refused', fanout);
    const jobName = `t.${prefix}`;
    const run = startMaestro([
      'run',
      spec,
      '-o',
      root,
      ...redisFlags(),
      '--prefix',
      prefix,
      '--autoscale',
      'slurm',
      '--walltime',
      '5',
      '--extra',
      '--no-such-sbatch-flag',
      '--job-name',
      jobName,
    ]);
    const failures = await waitFor(
      () => {
        try {
          const lines = conductorLogLines(root, /^autoscale: submitting an allocation failed/);
          return lines.length >= 2 && lines;
        } catch {
          return false; // no log yet
        }
      },
      60_000,
      'two failed submissions',
    );
    expect(failures.map((l) => [l['failures'], l['retryInMs']])).toEqual([
      [1, 5_000],
      [2, 10_000],
    ]);
    expect(String(failures[0]!['reason'])).toMatch(/^sbatch exited with code \d+: sbatch: .*no-such-sbatch-flag/);
    expect(jobsNamed(jobName)).toEqual([]);

    const cancelled = await maestro(['cancel', root, ...redisFlags()]);
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    expect((await run).exitCode).toBe(3);
  });

  it('refuses, before anything starts, steps too large for the allocations it would submit', async () => {
    const dir = tempDir();
    const spec = writeSpec(
      dir,
      'toolarge',
      `study:
  - name: big
    description: more cores than a node has
    run:
      cmd: hostname
      procs: 5
`,
    );
    const root = path.join(dir, 'study');
    const r = await maestro([
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
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'nothing started: steps of the study can never run in the allocations --autoscale would submit:\n  step big needs 5 cores on a node; a worker here has 4',
    );
  });
});
