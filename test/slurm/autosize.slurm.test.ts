/**
 * `maestro run --autoscale slurm` sizes allocations from the run times it learned (issue #25,
 * item 2), against a real Slurm cluster on this machine: the first allocation, before any run
 * time is known, gets the whole --walltime; once a wave has run, the next one gets nodes for the
 * work left and a walltime for it, never less than the learned p90 of its step, and Slurm holds
 * that time limit.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { scancel, useClusterRedis } from '../helpers/slurm.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
afterEach(killAll);

/** The conductor's "allocation submitted" log lines, in order. */
function submissions(root: string): Record<string, unknown>[] {
  const file = path.join(root, 'meta/conductor.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['msg'] === 'autoscale: allocation submitted');
}

/** Slurm's time limit of a job, in seconds (scontrol keeps ended jobs for MinJobAge). */
function slurmTimeLimitSeconds(id: string): number {
  const out = execFileSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
  const m = /TimeLimit=(?:(\d+)-)?(\d+):(\d+):(\d+)/.exec(out);
  if (!m) throw new Error(`no TimeLimit in: ${out}`);
  return Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

// Six instances, each the whole of a 4-core node: three nodes run them in two waves.
const waves = `study:
  - name: work
    description: a whole node each, a few seconds
    run:
      cmd: |
        echo "$SLURM_JOB_ID" >> jobs.txt # instance $(N)
        sleep 5
      procs: 4
global.parameters:
  N: {values: [1, 2, 3, 4, 5, 6], label: N.%%}
`;

describe('maestro run --autoscale slurm, sized from learned run times', () => {
  it('asks for nodes for the work left and a walltime from the learned run times, never below the p90', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'waves', waves);
    const run = startMaestro([
      'run',
      spec,
      '-o',
      root,
      ...cluster.flags(),
      '--prefix',
      `z${randomUUID().slice(0, 8)}`,
      '--autoscale',
      'slurm',
      '--max-allocations',
      '1',
      '--nodes-per-allocation',
      '3',
      '--walltime',
      '30',
    ]);
    // The first wave has run in the first allocation: cancel it, so the autoscaler starts another
    // for the work left, now with run times learned.
    const first = await waitFor(() => submissions(root)[0], 120_000, 'the first allocation');
    await waitFor(
      () =>
        existsSync(path.join(root, 'status.csv')) && readStatus(root).filter((r) => r.state === 'FINISHED').length >= 3,
      120_000,
      'the first wave to finish',
    );
    const doneBefore = readStatus(root).filter((r) => r.state === 'FINISHED').length;
    scancel(String(first['allocation']));
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readStatus(root).map((row) => row.state)).toEqual(Array(6).fill('FINISHED'));

    const [a1, a2, ...more] = submissions(root);
    expect(more).toEqual([]);
    // Before any run: 6 instances of a whole node, at most 3 nodes; the whole --walltime.
    expect(a1).toMatchObject({ nodes: 3, waiting: 6, walltimeSeconds: 1800 });
    expect(String(a1!['sizing'])).toContain('no run time learned yet');
    // After: nodes for what was left (one each, at most 3), and a walltime from the learned run
    // times: at least the step's p90, well short of --walltime.
    expect(doneBefore).toBeLessThan(6);
    const left = Number(a2!['waiting']);
    expect(left).toBeGreaterThanOrEqual(1);
    expect(left).toBeLessThanOrEqual(6 - doneBefore);
    expect(a2!['nodes']).toBe(Math.min(3, left));
    const status = JSON.parse((await maestro(['status', '--json', root])).stdout) as {
      study: { steps: { name: string; runtime: { p90Ms: number } | null }[] };
    };
    const p90Ms = status.study.steps.find((s) => s.name === 'work')!.runtime!.p90Ms;
    expect(p90Ms).toBeGreaterThanOrEqual(5000);
    const walltime = Number(a2!['walltimeSeconds']);
    expect(a2!['slowestStep']).toBe('work');
    expect(walltime * 1000).toBeGreaterThanOrEqual(Number(a2!['slowestNeedMs']));
    expect(walltime * 1000).toBeGreaterThanOrEqual(p90Ms);
    expect(walltime).toBeLessThan(1800);
    expect(String(a2!['sizing'])).toMatch(/walltime \d\d:\d\d:\d\d: .* of learned work/);
    // Slurm holds the limits asked for.
    expect(slurmTimeLimitSeconds(String(a1!['allocation']))).toBe(1800);
    expect(slurmTimeLimitSeconds(String(a2!['allocation']))).toBe(walltime);
  });
});
