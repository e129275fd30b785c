/**
 * Distributed execution through the commands a user types: a conductor and separate
 * maestro-worker processes on a shared Redis, failures, retries, walltimes, throttle, cancel,
 * update, and processes killed in the middle.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, startWorker } from '../helpers/processes.js';
import { processesWith, readStatus, statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

const newPrefix = (): string => `e${randomUUID().slice(0, 8)}`;

/** Lines each run of a step appended to its own runs.log: how often it ran. */
function runsOf(root: string, workspace: string): number {
  const f = path.join(root, workspace, 'runs.log');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').length : 0;
}

const fanout = (n: number, sleep = '0.2'): string => `study:
  - name: work
    description: one of many
    run:
      cmd: |
        echo run >> runs.log
        sleep ${sleep}
        echo done $(N)
  - name: gather
    description: after all of them
    run:
      cmd: ls $(work.workspace) > listing.txt
      depends: [work_*]
global.parameters:
  N: {values: [${Array.from({ length: n }, (_, k) => k).join(', ')}], label: N.%%}
`;

describe('conductor and separate workers on a shared Redis', () => {
  it('runs a study with the conductor and two maestro-worker processes', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'fanout', fanout(12));
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const w1 = startWorker(redisUrl, prefix, 'worker-one', ['--concurrency', '2']);
    const w2 = startWorker(redisUrl, prefix, 'worker-two', ['--concurrency', '2']);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    const rows = readStatus(root);
    expect(rows).toHaveLength(13);
    expect(rows.every((r) => r.state === 'FINISHED')).toBe(true);
    for (const r of rows.filter((x) => x.name.startsWith('work_'))) expect(runsOf(root, r.workspace)).toBe(1);
    // Both workers took steps.
    const redis = new Redis(redisUrl);
    const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as { id: string };
    const names = JSON.parse((await redis.hget(`${prefix}:study:${meta.id}`, 'workerNames')) ?? '[]') as string[];
    redis.disconnect();
    expect(names).toEqual(expect.arrayContaining(['worker-one', 'worker-two']));
    w1.kill('SIGTERM');
    w2.kill('SIGTERM');
    expect((await w1).exitCode).toBe(0);
  });

  it('a worker SIGKILLed mid-step: the study finishes, the step finished once, and its processes died', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const marker = `maestro-e2e-kill-${randomUUID().slice(0, 8)}`;
    const spec = writeSpec(
      dir,
      'killme',
      `study:
  - name: long
    description: runs long enough to be killed
    run:
      cmd: |
        echo start >> runs.log
        bash -c 'exec -a ${marker} sleep 8' &
        wait
        echo finished >> runs.log
  - name: after
    description: needs long
    run:
      cmd: echo after > after.txt
      depends: [long]
`,
    );
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const victim = startWorker(redisUrl, prefix, 'victim');
    await waitFor(() => processesWith(marker).length > 0, 30_000, 'the step to start');
    victim.kill('SIGKILL');
    await victim;
    // The killed worker's step dies with it (its reaper), well before the lock expires.
    await waitFor(() => processesWith(marker).length === 0, 10_000, 'the orphaned step to die');
    const rescuer = startWorker(redisUrl, prefix, 'rescuer');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(statesByName(root)).toEqual({ long: 'FINISHED', after: 'FINISHED' });
    const log = readFileSync(path.join(root, 'long/runs.log'), 'utf8').trim().split('\n');
    expect(log).toEqual(['start', 'start', 'finished']); // killed once, finished once
    rescuer.kill('SIGTERM');
  });

  it('the conductor SIGKILLed mid-study, then maestro resume: it finishes, no finished step ran twice', async () => {
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'resumable', fanout(16, '0.3'));
    const conductor = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const w = startWorker(redisUrl, prefix, 'steady', ['--concurrency', '2']);
    await waitFor(
      () =>
        existsSync(path.join(root, 'status.csv')) && readStatus(root).filter((r) => r.state === 'FINISHED').length >= 4,
      60_000,
      'some steps to finish',
    );
    conductor.kill('SIGKILL');
    await conductor;
    const resumed = await maestro(['resume', root, '--redis', redisUrl, '--local-workers', '0'], { timeout: 120_000 });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const rows = readStatus(root);
    expect(rows.every((r) => r.state === 'FINISHED')).toBe(true);
    for (const r of rows.filter((x) => x.name.startsWith('work_'))) expect(runsOf(root, r.workspace), r.name).toBe(1);
    w.kill('SIGTERM');
  });
});

describe('study semantics through the CLI (embedded Redis, local workers)', () => {
  it('a failing step fails its descendants, independent branches finish, exit code 2', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'failing',
      `study:
  - {name: prepare, description: ok, run: {cmd: "echo ok"}}
  - {name: broken, description: fails, run: {cmd: "echo oops >&2; exit 3", depends: [prepare]}}
  - {name: child, description: after broken, run: {cmd: "echo never", depends: [broken]}}
  - {name: grandchild, description: after child, run: {cmd: "echo never", depends: [child]}}
  - {name: other, description: independent, run: {cmd: "echo fine > fine.txt", depends: [prepare]}}
`,
    );
    const r = await maestro(['run', '-o', root, spec], { timeout: 60_000 });
    expect(r.exitCode).toBe(2);
    expect(statesByName(root)).toEqual({
      prepare: 'FINISHED',
      broken: 'FAILED',
      child: 'FAILED',
      grandchild: 'FAILED',
      other: 'FINISHED',
    });
    expect(readFileSync(path.join(root, 'broken/broken.err'), 'utf8')).toBe('oops\n');
    expect(r.stdout).toMatch(/Study FAILURE/);
  });

  it('--attempts runs a failing step again until it succeeds', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'flaky',
      `study:\n  - {name: flaky, description: fails twice, run: {cmd: "echo try; echo x >> tries.log; test $(wc -l < tries.log) -ge 3"}}\n`,
    );
    const r = await maestro(['run', '-o', root, '-a', '3', spec], { timeout: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'flaky/tries.log'), 'utf8').trim().split('\n')).toHaveLength(3);
    // Each attempt's output is kept.
    expect(readdirSync(path.join(root, 'flaky')).filter((f) => f.startsWith('flaky.out'))).toHaveLength(3);
  });

  it('walltime: a step past it is killed and TIMEDOUT; with a restart command, the restart runs', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'walltime',
      `study:
  - name: norestart
    description: runs past its walltime
    run: {cmd: "sleep 30", walltime: "00:00:01"}
  - name: withrestart
    description: restarts from a checkpoint
    run:
      cmd: "echo first > first.txt; sleep 30"
      restart: "echo restarted > restart.txt"
      walltime: "00:00:01"
  - name: child
    description: after the restart
    run: {cmd: "cat ../withrestart/restart.txt > seen.txt", depends: [withrestart]}
`,
    );
    const r = await maestro(['run', '-o', root, spec], { timeout: 60_000 });
    expect(r.exitCode).toBe(2);
    expect(statesByName(root)).toEqual({ norestart: 'TIMEDOUT', withrestart: 'FINISHED', child: 'FINISHED' });
    expect(readFileSync(path.join(root, 'child/seen.txt'), 'utf8')).toBe('restarted\n');
    expect(readStatus(root).find((x) => x.name === 'withrestart')!.restarts).toBe(1);
  });

  it('--throttle: never more steps in flight than asked', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'throttled',
      `study:
  - name: s
    description: records when it runs
    run:
      cmd: |
        echo "start $(date +%s%N)" >> $(SPECROOT)/timeline.log
        sleep 0.3
        echo "end $(date +%s%N)" >> $(SPECROOT)/timeline.log
global.parameters:
  N: {values: [1, 2, 3, 4, 5, 6, 7, 8], label: N.%%}
`.replace('records when it runs', 'records when it runs $(N)'),
    );
    const r = await maestro(['run', '-o', root, '-t', '2', '--local-workers', '2', '--worker-concurrency', '4', spec], {
      timeout: 60_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const events = readFileSync(path.join(dir, 'timeline.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([kind, t]) => ({ kind, t: BigInt(t!) }))
      .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.kind === 'end' ? -1 : 1));
    let inFlight = 0;
    let most = 0;
    for (const e of events) {
      inFlight += e.kind === 'start' ? 1 : -1;
      most = Math.max(most, inFlight);
    }
    expect(events).toHaveLength(16);
    expect(most).toBe(2);
  });

  it('cancel stops the running steps and runs nothing more (exit code 3)', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const marker = `maestro-e2e-cancel-${randomUUID().slice(0, 8)}`;
    const spec = writeSpec(
      dir,
      'cancelled',
      `study:
  - {name: long, description: long, run: {cmd: "bash -c 'exec -a ${marker} sleep 60' & wait"}}
  - {name: later, description: never runs, run: {cmd: "echo no > no.txt", depends: [long]}}
`,
    );
    const run = startMaestro(['run', '-o', root, spec]);
    await waitFor(() => processesWith(marker).length > 0, 30_000, 'the step to start');
    const c = await maestro(['cancel', root]);
    expect(c.exitCode, c.stderr).toBe(0);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(3);
    expect(statesByName(root)).toEqual({ long: 'CANCELLED', later: 'CANCELLED' });
    expect(processesWith(marker)).toEqual([]);
    expect(existsSync(path.join(root, 'later/no.txt'))).toBe(false);
  });

  it('update changes the throttle while the study runs', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'updated',
      `study:
  - name: s
    description: step $(N)
    run:
      cmd: |
        echo "start $(date +%s%N)" >> $(SPECROOT)/timeline.log
        sleep 0.5
        echo "end $(date +%s%N)" >> $(SPECROOT)/timeline.log
global.parameters:
  N: {values: [${Array.from({ length: 12 }, (_, k) => k).join(', ')}], label: N.%%}
`,
    );
    const run = startMaestro(['run', '-o', root, '-t', '1', '--local-workers', '2', '--worker-concurrency', '3', spec]);
    await waitFor(() => existsSync(path.join(dir, 'timeline.log')), 30_000, 'the first step');
    const u = await maestro(['update', root, '--throttle', '3']);
    expect(u.exitCode, u.stderr).toBe(0);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    const lines = readFileSync(path.join(dir, 'timeline.log'), 'utf8').trim().split('\n');
    let inFlight = 0;
    let most = 0;
    for (const l of lines.map((x) => x.split(' ')).sort((a, b) => (BigInt(a[1]!) < BigInt(b[1]!) ? -1 : 1))) {
      inFlight += l[0] === 'start' ? 1 : -1;
      most = Math.max(most, inFlight);
    }
    expect(most).toBe(3);
  });
});
