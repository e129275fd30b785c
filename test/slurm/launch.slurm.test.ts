/**
 * `maestro workers launch | list | stop` against a real Slurm cluster on this machine: workers in
 * an sbatch allocation, one per node, running every step inside it; `$(LAUNCHER)` steps running
 * srun inside the worker's allocation; allocations too small refused; drain and cancel.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { jobsNamed, squeue, useClusterRedis } from '../helpers/slurm.js';
import { statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
afterEach(killAll);

const newPrefix = (): string => `s${randomUUID().slice(0, 8)}`;
const read = (file: string): string => readFileSync(file, 'utf8').trim();
const redisFlags = cluster.flags;

interface ListJson {
  allocations: { id: string; scheduler: string; state: string; nodes: number; script: string }[];
  workers: { name: string; host: string; allocationId?: string; state: string; done: number; cores?: number }[];
}

async function list(args: string[]): Promise<ListJson> {
  const r = await maestro(['workers', 'list', '--json', ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ListJson;
}

describe('maestro workers launch --scheduler slurm', () => {
  it('runs every step of a study inside the allocation, $(LAUNCHER) steps through srun in it', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'inside',
      `study:
  - name: where
    description: what the step sees of Slurm
    run:
      cmd: |
        echo "$(N)" > n.txt
        env | grep -E '^(SLURM_JOB_ID|SLURM_STEP_ID|SLURMD_NODENAME|MAESTRO_CORES)=' | sort > env.txt
  - name: tasks
    description: two tasks through $(LAUNCHER)
    run:
      cmd: |
        $(LAUNCHER) bash -c 'echo "$SLURM_JOB_ID $SLURM_STEP_ID $SLURMD_NODENAME $SLURM_PROCID"' | sort > tasks.txt
      procs: 2
      depends: [where_*]
  - name: wide
    description: one task on each of two nodes
    run:
      cmd: |
        $(LAUNCHER) bash -c 'echo "$SLURM_JOB_ID $SLURMD_NODENAME"' | sort > tasks.txt
      nodes: 2
      procs: 2
      depends: [where_*]
global.parameters:
  N: {values: [1, 2, 3, 4], label: N.%%}
`,
    );
    const run = startMaestro(['run', spec, '-o', root, ...redisFlags(), '--prefix', prefix, '--local-workers', '0']);
    await waitFor(() => existsSync(path.join(root, 'meta/study.json')), 60_000, 'the study folder');

    const launched = await maestro([
      'workers',
      'launch',
      '--scheduler',
      'slurm',
      '--study',
      root,
      '--redis-password-file',
      cluster.redis().passwordFile,
      '--nodes',
      '2',
      '--walltime',
      '5',
    ]);
    expect(launched.exitCode, launched.stderr).toBe(0);
    const id = /Submitted slurm allocation (\d+): 2 nodes, 00:05:00, queues steps/.exec(launched.stdout)?.[1];
    expect(id, launched.stdout).toBeDefined();

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(Object.values(statesByName(root))).toEqual(Array(6).fill('FINISHED'));

    // Every step ran in the allocation, in the workers' job step (0), with the cores it asked for.
    for (const n of [1, 2, 3, 4]) {
      const env = read(path.join(root, 'where', `N.${n}`, 'env.txt')).split('\n');
      expect(env).toContain(`SLURM_JOB_ID=${id}`);
      expect(env).toContain('SLURM_STEP_ID=0');
      expect(env).toContain('MAESTRO_CORES=1');
      expect(env.find((l) => l.startsWith('SLURMD_NODENAME='))).toMatch(/^SLURMD_NODENAME=node[1-4]$/);
    }
    // $(LAUNCHER): srun in the same allocation, a job step of its own, on the worker's node.
    const tasks = read(path.join(root, 'tasks', 'tasks.txt'))
      .split('\n')
      .map((l) => l.split(' '));
    expect(tasks).toHaveLength(2);
    expect(tasks.map((t) => t[0])).toEqual([id, id]);
    expect(new Set(tasks.map((t) => t[1])).size).toBe(1);
    expect(tasks[0]![1]).not.toBe('0');
    expect(new Set(tasks.map((t) => t[2])).size).toBe(1);
    expect(tasks.map((t) => t[3]).sort()).toEqual(['0', '1']);
    const wide = read(path.join(root, 'wide', 'tasks.txt'))
      .split('\n')
      .map((l) => l.split(' '));
    expect(wide.map((t) => t[0])).toEqual([id, id]);
    expect(new Set(wide.map((t) => t[1])).size).toBe(2);
    expect(read(path.join(root, 'tasks', 'tasks.err'))).toBe('');

    // The allocation, its two workers (one per node), and the script: without the password.
    // (Workers publish their counts with their heartbeat.)
    const listed = await waitFor(
      async () => {
        const l = await list(['--study', root, '--redis-password-file', cluster.redis().passwordFile]);
        return l.workers.reduce((n, w) => n + w.done, 0) === 6 && l;
      },
      30_000,
      'the workers to count 6 steps done',
    );
    const allocation = listed.allocations.find((a) => a.id === id);
    expect(allocation).toMatchObject({ scheduler: 'slurm', state: 'running', nodes: 2 });
    const workers = listed.workers.filter((w) => w.allocationId === id);
    expect(workers).toHaveLength(2);
    expect(new Set(workers.map((w) => w.host)).size).toBe(2);
    expect(workers.reduce((n, w) => n + w.done, 0)).toBe(6);
    expect(workers.every((w) => w.cores === 4)).toBe(true);
    const script = readFileSync(allocation!.script, 'utf8');
    expect(script).toContain('#SBATCH --nodes=2\n');
    expect(script).toContain(`export MAESTRO_REDIS_PASSWORD_FILE='${cluster.redis().passwordFile}'\n`);
    expect(script).not.toContain(cluster.redis().password);
    const table = await maestro([
      'workers',
      'list',
      '--study',
      root,
      '--redis-password-file',
      cluster.redis().passwordFile,
    ]);
    expect(table.stdout).toMatch(
      new RegExp(`^${id}\\s+slurm\\s+running\\s+2\\s+00:0[34]:\\d\\d\\s+2\\s+0\\s+6\\s+launch$`, 'm'),
    );

    // Drained, the workers exit and the allocation ends.
    const stopped = await maestro([
      'workers',
      'stop',
      '--study',
      root,
      '--redis-password-file',
      cluster.redis().passwordFile,
    ]);
    expect(stopped.stdout).toContain(`Draining slurm allocation ${id}`);
    await waitFor(() => !squeue().has(id!), 60_000, 'the drained allocation to end');
    expect(
      (await list(['--study', root, '--redis-password-file', cluster.redis().passwordFile])).allocations,
    ).toMatchObject([{ id, state: 'ended' }]);
  });

  it('refuses, submitting nothing, an allocation whose nodes are too small for a step', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'toobig',
      `study:
  - name: big
    description: more cores than a node has
    run:
      cmd: $(LAUNCHER) hostname
      procs: 4
      cores per task: 2
  - name: small
    description: fits
    run:
      cmd: hostname
`,
    );
    const dry = await maestro(['run', '--dry', spec, '-o', root]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const jobName = `t.${prefix}`;
    const r = await maestro([
      'workers',
      'launch',
      '--scheduler',
      'slurm',
      '--study',
      root,
      ...redisFlags(),
      '--prefix',
      prefix,
      '--job-name',
      jobName,
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'nothing submitted: steps of the study can never run in this allocation:\n  step big needs 8 cores on a node; a worker here has 4',
    );
    expect(jobsNamed(jobName)).toEqual([]);
    expect((await list([...redisFlags(), '--prefix', prefix])).allocations).toEqual([]);
  });

  it('cancels an allocation with stop --now', async () => {
    const prefix = newPrefix();
    const out = tempDir();
    const launched = await maestro([
      'workers',
      'launch',
      '--scheduler',
      'slurm',
      ...redisFlags(),
      '--prefix',
      prefix,
      '-o',
      out,
    ]);
    expect(launched.exitCode, launched.stderr).toBe(0);
    const id = /Submitted slurm allocation (\d+): 1 node, queues steps/.exec(launched.stdout)?.[1];
    expect(id, launched.stdout).toBeDefined();
    await waitFor(
      async () => (await list([...redisFlags(), '--prefix', prefix])).workers.length === 1,
      60_000,
      'its worker',
    );

    const stopped = await maestro([
      'workers',
      'stop',
      '--now',
      '--allocation',
      id!,
      ...redisFlags(),
      '--prefix',
      prefix,
    ]);
    expect(stopped.stdout).toContain(`Cancelled slurm allocation ${id}`);
    await waitFor(() => !squeue().has(id!), 60_000, 'the cancelled allocation to end');
    await waitFor(
      async () => (await list([...redisFlags(), '--prefix', prefix])).workers.length === 0,
      30_000,
      'no live worker',
    );
  });
});
