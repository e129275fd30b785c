/**
 * Flux, end to end: against the real flux-core wherever it is installed (`flux start
 * --test-size=2`: two brokers of two cores on this machine, two nodes), else against the stand-in
 * of test/fixtures/flux, which models such an instance (test/helpers/flux.ts picks;
 * MAESTRO_TEST_FLUX=standin forces the stand-in). Workers come from `maestro workers launch
 * --scheduler flux` and `maestro run --autoscale flux`, report to a password-protected Redis on a
 * TCP port, and run the steps' `$(LAUNCHER)` as `flux run` inside their allocation.
 *
 * What must hold (issue #22): a `$(LAUNCHER)` step gets the cores of both nodes while the
 * workers run; the workers know their allocation (list, stop --allocation); an allocation that
 * ends, at its walltime or by `flux cancel`, under running steps loses none and leaves none
 * running; nothing is left in `flux jobs` but inactive jobs. With the stand-in, the command lines
 * maestro runs are checked too.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maestro, WORKER_BIN } from '../helpers/cli.js';
import { fluxIdForm, startFluxWorld, type FluxWorld } from '../helpers/flux.js';
import { killAll, startMaestro, startWorker } from '../helpers/processes.js';
import { startClusterRedis, type ClusterRedis } from '../helpers/redis-server.js';
import { processesWith, readStatus, statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

let redis: ClusterRedis;
beforeAll(async () => {
  redis = await startClusterRedis();
});
afterAll(async () => {
  await redis.server.stop();
});
/** Each test has an instance of its own, ended (with all it ran) whatever the test did. */
const worlds: FluxWorld[] = [];
afterEach(async () => {
  await killAll();
  for (const world of worlds.splice(0)) await world.stop();
});
async function useWorld(): Promise<FluxWorld> {
  const world = await startFluxWorld();
  worlds.push(world);
  return world;
}

const newPrefix = (): string => `f${randomUUID().slice(0, 8)}`;
const redisFlags = (): string[] => ['--redis', redis.url, '--redis-password-file', redis.passwordFile];
const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];

function conductorLog(root: string): Record<string, unknown>[] {
  return lines(path.join(root, 'meta/conductor.log')).map((l) => JSON.parse(l) as Record<string, unknown>);
}
const handedBack = (root: string): Record<string, unknown>[] =>
  conductorLog(root).filter((l) => l['msg'] === 'step handed back; running it again');
const submitted = (root: string): string[] =>
  conductorLog(root)
    .filter((l) => l['msg'] === 'autoscale: allocation submitted')
    .map((l) => String(l['allocation']));

/** Until every job of the instance is inactive (an ended allocation is in CLEANUP a moment). */
async function allInactive(world: FluxWorld): Promise<void> {
  await waitFor(
    async () => (await world.jobs()).every((j) => j.state === 'INACTIVE'),
    60_000,
    'every Flux job to be inactive',
  );
}

describe(`Flux (${process.env['MAESTRO_TEST_FLUX'] === 'standin' ? 'the stand-in' : 'real where installed, else the stand-in'})`, () => {
  it('maestro workers launch --scheduler flux --nodes 2: a $(LAUNCHER) step runs a rank on each node beside plain steps; list shows the allocation and its 2 workers; stop --allocation drains exactly them', async () => {
    const world = await useWorld();
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'fluxed',
      `study:
  - name: where
    description: which allocation a step sees
    run:
      cmd: flux getattr jobid > where.txt
  - name: tasks
    description: a task on each of two nodes, through $(LAUNCHER)
    run:
      cmd: |
        $(LAUNCHER) bash -c 'echo "task $FLUX_TASK_RANK on rank $(flux getattr rank)"' | sort > tasks.txt
      nodes: 2
      procs: 2
      depends: [where]
  - name: after
    description: a plain step after it
    run:
      cmd: echo after > after.txt
      depends: [tasks]
`,
    );
    const run = startMaestro(['run', spec, '-o', root, ...redisFlags(), '--prefix', prefix, '--local-workers', '0'], {
      env: world.env,
    });
    await waitFor(() => existsSync(path.join(root, 'meta/study.json')), 60_000, 'the study folder');
    // A worker outside any allocation, on a queue of its own: stopping the allocation leaves it be.
    const bystander = startWorker(redis.server.url, prefix, 'bystander', ['--queues', 'elsewhere']);

    const launched = await maestro(
      [
        'workers',
        'launch',
        '--scheduler',
        'flux',
        '--study',
        root,
        '--redis-password-file',
        redis.passwordFile,
        '--nodes',
        '2',
        '--walltime',
        '5m',
      ],
      { env: world.env },
    );
    expect(launched.exitCode, launched.stderr).toBe(0);
    const id = /Submitted flux allocation (f\w+): 2 nodes, 00:05:00, queues steps/.exec(launched.stdout)?.[1];
    expect(id, launched.stdout).toBeDefined();
    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(statesByName(root)).toEqual({ where: 'FINISHED', tasks: 'FINISHED', after: 'FINISHED' });
    expect(fluxIdForm(readFileSync(path.join(root, 'where/where.txt'), 'utf8').trim())).toBe(id);
    // Two cores a node, the workers on both nodes hold none: one task on each node.
    expect(readFileSync(path.join(root, 'tasks/tasks.txt'), 'utf8')).toBe('task 0 on rank 0\ntask 1 on rank 1\n');

    const list = async (): Promise<string> =>
      (
        await maestro(['workers', 'list', '--study', root, '--redis-password-file', redis.passwordFile], {
          env: world.env,
        })
      ).stdout;
    // Its 2 workers (the counts of steps come with their next heartbeat).
    expect(await list()).toMatch(
      new RegExp(`^${id}\\s+flux\\s+running\\s+2\\s+00:0[0-5]:\\d\\d\\s+2\\s+\\d+\\s+\\d+\\s+launch$`, 'm'),
    );

    // By the id as flux jobs prints it (ƒ… in this locale): the same allocation.
    const printed = (await world.jobs()).find((j) => fluxIdForm(j.id) === id)!.id;
    const stopped = await maestro(
      ['workers', 'stop', '--study', root, '--redis-password-file', redis.passwordFile, '--allocation', printed],
      { env: world.env },
    );
    expect(stopped.stdout).toBe(
      `Draining flux allocation ${id}: its workers finish their running steps and exit, then it ends`,
    );
    await waitFor(
      async () => (await world.jobs()).find((j) => fluxIdForm(j.id) === id)?.result === 'COMPLETED',
      60_000,
      'the drained allocation to complete',
    );
    const after = await list();
    expect(after).toMatch(new RegExp(`^${id}\\s+flux\\s+ended\\s+2\\s+-\\s+0\\s+0\\s+0\\s+launch$`, 'm'));
    expect(after).toMatch(/^bystander\s/m);
    expect(bystander.exitCode).toBeNull();
    // Cancelling an allocation that is over already is no error (flux cancel says 'job is inactive').
    const cancelled = await maestro(
      ['workers', 'stop', '--now', '--study', root, '--redis-password-file', redis.passwordFile, '--allocation', id!],
      { env: world.env },
    );
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`Cancelled flux allocation ${id}`);

    const calls = world.calls();
    if (calls) {
      // The stand-in saw what maestro ran: flux batch with the settings also as directives, the
      // workers by flux exec on every rank of the allocation, the step's flux run inside it.
      const batch = calls.filter((c) => c.argv[0] === 'batch');
      expect(batch.map((c) => c.argv.slice(0, -1))).toEqual([['batch', '-N', '2', '-t', '5m']]);
      const script = readFileSync(batch[0]!.argv.at(-1)!, 'utf8');
      expect(script.split('\n').filter((l) => l.startsWith('# flux: '))).toEqual([
        '# flux: --job-name=maestro.fluxed',
        '# flux: -N 2',
        `# flux: --output=${path.join(root, 'workers', 'flux-{{id}}.out')}`,
        '# flux: -t 5m',
      ]);
      expect(script).not.toContain(redis.password);
      const inside = `ƒ${id!.slice(1)}`;
      expect(calls.filter((c) => c.argv[0] === 'exec').map((c) => [c.argv, c.instance])).toEqual([
        [['exec', '-r', 'all', '-n', process.execPath, WORKER_BIN], inside],
      ]);
      expect(calls.filter((c) => c.argv[0] === 'run').map((c) => [c.argv.slice(0, 7), c.instance])).toEqual([
        [['run', '-n', '2', '-N', '2', '-c', '1'], inside],
      ]);
      expect(world.violations()).toEqual([]);
    }
  });

  it('an allocation whose walltime ends under a 120 s step (margin 0): PREEMPTED, nothing of it left, its restart finishes it in a later allocation', async () => {
    const world = await useWorld();
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const marker = `120.${randomInt(1000, 9999)}`;
    const spec = writeSpec(
      dir,
      'walltime',
      `study:
  - name: long
    description: longer than its allocation
    run:
      cmd: |
        echo "cmd $(flux getattr jobid)" >> runs.log
        sleep ${marker}
        echo work >> work.log
      restart: |
        echo "restart $(flux getattr jobid)" >> runs.log
        echo work >> work.log
`,
    );
    const run = startMaestro(
      [
        'run',
        spec,
        '-o',
        root,
        ...redisFlags(),
        '--prefix',
        newPrefix(),
        '--autoscale',
        'flux',
        '--walltime',
        '30s',
        '--preempt-margin',
        '0',
      ],
      { env: world.env },
    );
    const runs = path.join(root, 'long', 'runs.log');
    await waitFor(() => lines(runs)[0], 90_000, 'the step to start');
    await waitFor(() => handedBack(root)[0], 90_000, 'the step to be handed back');
    expect(processesWith(`sleep ${marker}`)).toEqual([]);

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(statesByName(root)).toEqual({ long: 'FINISHED' });
    const [cmd, restart, ...rest] = lines(runs).map((l) => l.split(' '));
    expect(rest).toEqual([]);
    expect(cmd?.[0]).toBe('cmd');
    expect(restart?.[0]).toBe('restart');
    const [first, later] = [fluxIdForm(cmd![1]!), fluxIdForm(restart![1]!)];
    expect(later).not.toBe(first);
    expect(handedBack(root)).toEqual([
      expect.objectContaining({ outcome: 'preempted', message: `stopped: allocation ${first} is ending` }),
    ]);
    expect(submitted(root)).toEqual(expect.arrayContaining([first, later]));
    expect(lines(path.join(root, 'long', 'work.log'))).toEqual(['work']); // once, after the restart
    expect(readStatus(root).find((r) => r.name === 'long')?.restarts).toBe(0);
    expect(processesWith(`sleep ${marker}`)).toEqual([]);
    await allInactive(world);
  });

  it('flux cancel of an allocation under running steps: they are reported and run again in another', async () => {
    const world = await useWorld();
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const marker = `300.${randomInt(1000, 9999)}`;
    const step = (name: string): string => `  - name: ${name}
    description: waits until its allocation is cancelled, the first time
    run:
      cmd: |
        echo "$(flux getattr jobid)" >> runs.log
        if [ "$(wc -l < runs.log)" -eq 1 ]; then sleep ${marker}; fi
`;
    const spec = writeSpec(dir, 'cancelled', `study:\n${step('one')}${step('two')}`);
    const run = startMaestro(
      ['run', spec, '-o', root, ...redisFlags(), '--prefix', newPrefix(), '--autoscale', 'flux', '--walltime', '5m'],
      { env: world.env },
    );
    const first = await waitFor(
      () => {
        const [a, b] = ['one', 'two'].map((s) => lines(path.join(root, s, 'runs.log'))[0]);
        return a !== undefined && a === b && a;
      },
      90_000,
      'both steps to run in one allocation',
    );
    await waitFor(() => processesWith(`sleep ${marker}`).length === 2, 30_000, 'both steps to sleep');
    const cancelled = await world.flux(['cancel', first]);
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(statesByName(root)).toEqual({ one: 'FINISHED', two: 'FINISHED' });
    for (const s of ['one', 'two']) {
      const [a, b, ...rest] = lines(path.join(root, s, 'runs.log'));
      expect([a, rest]).toEqual([first, []]);
      expect(b).toBeDefined();
      expect(b).not.toBe(first);
    }
    expect(handedBack(root).map((l) => l['outcome'])).toEqual(['preempted', 'preempted']);
    expect(processesWith(`sleep ${marker}`)).toEqual([]);
    await allInactive(world);
  });

  it('--autoscale flux finishes a 20-step study and leaves nothing in flux jobs -a but inactive jobs', async () => {
    const world = await useWorld();
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'twenty',
      `study:
  - name: sim
    description: one of twenty
    run:
      cmd: echo "$(N) $(flux getattr jobid)" > out.txt
global.parameters:
  N:
    values: [${Array.from({ length: 20 }, (_, k) => k + 1).join(', ')}]
    label: N.%%
`,
    );
    const r = await maestro(
      [
        'run',
        spec,
        '-o',
        root,
        ...redisFlags(),
        '--prefix',
        newPrefix(),
        '--autoscale',
        'flux',
        '--walltime',
        '5m',
        '--nodes-per-allocation',
        '2',
      ],
      { env: world.env, timeout: 170_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const states = Object.values(statesByName(root));
    expect(states).toHaveLength(20);
    expect(new Set(states)).toEqual(new Set(['FINISHED']));
    const ids = submitted(root);
    expect(ids.length).toBeGreaterThanOrEqual(1);
    await allInactive(world);
    expect((await world.jobs()).map((j) => fluxIdForm(j.id)).sort()).toEqual([...ids].sort());
    const calls = world.calls();
    if (calls) {
      expect(calls.filter((c) => c.argv[0] === 'batch').map((c) => c.argv.slice(0, 3))).toEqual(
        ids.map(() => ['batch', '-N', expect.stringMatching(/^[12]$/)]),
      );
      expect(calls.filter((c) => c.argv[0] === 'cancel').flatMap((c) => c.argv.slice(1))).toEqual(
        expect.arrayContaining([ids.at(-1)]),
      );
      expect(world.violations()).toEqual([]);
    }
  });

  it('refuses, before submitting anything, what this Flux does not have: a queue, nodes that large, reservations and QoS; takes Flux durations', async () => {
    const world = await useWorld();
    const launch = (...args: string[]): ReturnType<typeof maestro> =>
      maestro(['workers', 'launch', '--scheduler', 'flux', ...redisFlags(), ...args], { env: world.env });

    const queue = await launch('--queue', 'pdebug');
    expect(queue.exitCode).toBe(1);
    expect(queue.stderr).toContain(
      "--queue: this Flux instance has no queues (flux queue list), so it refuses -q pdebug; leave --queue (and the spec's batch.queue) out",
    );
    const cores = await launch('--cores-per-node', '4');
    expect(cores.exitCode).toBe(1);
    expect(cores.stderr).toContain("--cores-per-node 4: Flux's nodes have at most 2 cores");
    const options = await launch('--reservation', 'r1', '--qos', 'q');
    expect(options.exitCode).toBe(1);
    expect(options.stderr).toContain('--reservation: Flux has no reservations; pass what your site uses in --extra');
    expect(options.stderr).toContain('--qos: Flux has no QoS; pass what your site uses in --extra');
    const dry = await launch('--walltime', '90s', '--bank', 'mybank', '--dry', '-o', tempDir());
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('# flux: -t 90s\n# flux: --setattr=system.bank=mybank\n');
    expect(dry.stdout).toMatch(/#   flux batch -N 1 -t 90s --setattr=system\.bank=mybank \S+\.sh$/);

    expect(await world.jobs()).toEqual([]);
    const calls = world.calls();
    if (calls) {
      expect(calls.filter((c) => c.argv[0] === 'batch')).toEqual([]);
      expect(world.violations()).toEqual([]);
    }
  });
});
