/**
 * Merlin worker groups on a real Slurm cluster on this machine: `maestro workers launch --group
 * NAME --scheduler slurm` starts workers that take only the steps of that group (the queues of
 * its steps), in an allocation of the group's node count.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { jobsNamed, squeue, useClusterRedis } from '../helpers/slurm.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
afterEach(killAll);

const SPEC = `study:
  - name: prep
    description: for the other group
    run:
      cmd: echo "$SLURM_JOB_ID" > job.txt
  - name: sim
    description: for the sim group
    run:
      cmd: |
        echo "$SLURM_JOB_ID $SLURM_JOB_NUM_NODES" > job.txt
        echo $(N) > n.txt
      task_queue: simq
      depends: [prep]
  - name: post
    description: for the other group
    run:
      cmd: echo "$SLURM_JOB_ID" > job.txt
      task_queue: postq
      depends: [sim_*]
global.parameters:
  N: {values: [1, 2, 3], label: N.%%}
merlin:
  resources:
    workers:
      sim:
        args: -l INFO --concurrency 1
        steps: [sim]
        nodes: 2
      rest:
        steps: [prep, post]
`;

describe('maestro workers launch --group', () => {
  it("--group sim --scheduler slurm: its workers take only the sim group's steps, on the group's nodes", async () => {
    const dir = tempDir();
    const prefix = `g${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'groups', SPEC);
    const run = startMaestro(['run', spec, '-o', root, ...cluster.flags(), '--prefix', prefix, '--local-workers', '0']);
    await waitFor(() => existsSync(path.join(root, 'meta/study.json')), 60_000, 'the study folder');

    const launch = (group: string) =>
      maestro([
        'workers',
        'launch',
        '--group',
        group,
        '--scheduler',
        'slurm',
        '--study',
        root,
        '--redis-password-file',
        cluster.redis().passwordFile,
        '--walltime',
        '5',
      ]);
    const sim = await launch('sim');
    expect(sim.exitCode, sim.stderr).toBe(0);
    const simId = /Submitted slurm allocation (\d+): 2 nodes, 00:05:00, queues simq \(worker group sim\)\n/.exec(
      sim.stdout,
    )?.[1];
    expect(simId, sim.stdout).toBeDefined();
    const rest = await launch('rest');
    expect(rest.exitCode, rest.stderr).toBe(0);
    const restId =
      /Submitted slurm allocation (\d+): 1 node, 00:05:00, queues (steps,postq|postq,steps) \(worker group rest\)\n/.exec(
        rest.stdout,
      )?.[1];
    expect(restId, rest.stdout).toBeDefined();

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    const rows = readStatus(root);
    expect(rows.every((r) => r.state === 'FINISHED')).toBe(true);
    const jobOf = (workspace: string): string[] =>
      readFileSync(path.join(root, workspace, 'job.txt'), 'utf8')
        .trim()
        .split(' ');
    const sims = rows.filter((r) => r.workspace.startsWith('sim'));
    expect(sims).toHaveLength(3);
    for (const r of sims) expect(jobOf(r.workspace)).toEqual([simId, '2']);
    for (const r of rows.filter((x) => !x.workspace.startsWith('sim'))) expect(jobOf(r.workspace)).toEqual([restId]);

    const stopped = await maestro([
      'workers',
      'stop',
      '--study',
      root,
      '--redis-password-file',
      cluster.redis().passwordFile,
    ]);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    await waitFor(() => !squeue().has(simId!) && !squeue().has(restId!), 60_000, 'the drained allocations to end');
  });

  it('an unknown group is refused, naming the groups, and nothing is submitted', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'groups', SPEC);
    const dry = await maestro(['run', '--dry', spec, '-o', root]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const r = await maestro([
      'workers',
      'launch',
      '--group',
      'simm',
      '--scheduler',
      'slurm',
      '--study',
      root,
      ...cluster.flags(),
    ]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("--group: the spec has no worker group 'simm'; its groups are: sim, rest");
    expect(jobsNamed('maestro.groups')).toEqual([]);
  });

  it('maestro run --autoscale slurm: each worker group gets allocations of its own, for its steps', async () => {
    const dir = tempDir();
    const prefix = `g${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'groups', SPEC);
    const r = await maestro(
      ['run', spec, '-o', root, ...cluster.flags(), '--prefix', prefix, '--autoscale', 'slurm', '--walltime', '5'],
      { timeout: 200_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = readStatus(root);
    expect(rows.every((row) => row.state === 'FINISHED')).toBe(true);
    const listed = await maestro(['workers', 'list', '--json', '--all', ...cluster.flags(), '--prefix', prefix]);
    const allocations = (
      JSON.parse(listed.stdout) as { allocations: { id: string; queues: string[]; nodes: number }[] }
    ).allocations;
    const byId = new Map(allocations.map((x) => [x.id, x]));
    const jobOf = (workspace: string): string =>
      readFileSync(path.join(root, workspace, 'job.txt'), 'utf8')
        .trim()
        .split(' ')[0]!;
    // sim ran only in allocations for its queue, of at most its 2 nodes; prep and post only in
    // those for theirs.
    for (const row of rows) {
      const a = byId.get(jobOf(row.workspace));
      expect(a, row.name).toBeDefined();
      if (row.workspace.startsWith('sim')) {
        expect(a!.queues).toEqual(['simq']);
        expect(a!.nodes).toBeLessThanOrEqual(2);
      } else expect([...a!.queues].sort()).toEqual(['postq', 'steps']);
    }
    // Each group's allocations are sized from the instances waiting on its own queues: sim's
    // three, or the one prep or post; the log line says so.
    const submitted = readFileSync(path.join(root, 'meta/conductor.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'autoscale: allocation submitted');
    expect(submitted.length).toBeGreaterThanOrEqual(2);
    for (const line of submitted) {
      const waiting = Number(line['waiting']);
      const sim = byId.get(String(line['allocation']))!.queues.includes('simq');
      if (sim) expect(waiting).toBeLessThanOrEqual(3);
      else expect(waiting).toBe(1);
      expect(String(line['sizing'])).toContain(`for ${waiting} instance(s) waiting`);
    }
    await waitFor(
      () => allocations.map((x) => x.id).every((id) => !squeue().has(id)),
      60_000,
      'the allocations to end',
    );
  });
});
