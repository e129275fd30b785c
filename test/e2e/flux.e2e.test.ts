/**
 * The Flux launch path, against a recording stand-in `flux` (test/fixtures/flux): Flux cannot be
 * installed on the test machine. The stand-in accepts only the command lines of the Flux contract
 * (../shared/reference/slurm-local.md) and refuses anything else; it runs the batch script and
 * its `flux run` lines for real on this machine, so the study runs end to end through it. These
 * tests check the exact command lines and script maestro produces, and that no call broke the
 * contract.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maestro, WORKER_BIN } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { startClusterRedis, type ClusterRedis } from '../helpers/redis-server.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

let redis: ClusterRedis;
beforeAll(async () => {
  redis = await startClusterRedis();
});
afterAll(async () => {
  await redis.server.stop();
});
/** Batch jobs the stand-in started run detached, as real ones would: end them after each test. */
const worlds: string[] = [];
afterEach(async () => {
  await killAll();
  for (const dir of worlds.splice(0)) {
    const jobs = path.join(dir, 'jobs');
    for (const f of existsSync(jobs) ? readdirSync(jobs) : []) {
      const { pid } = JSON.parse(readFileSync(path.join(jobs, f), 'utf8')) as { pid: number };
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already over
      }
    }
  }
});

const STANDIN = path.join(REPO_ROOT, 'test/fixtures/flux');
const newPrefix = (): string => `f${randomUUID().slice(0, 8)}`;
const redisFlags = (): string[] => ['--redis', redis.url, '--redis-password-file', redis.passwordFile];

interface Call {
  argv: string[];
  jobId: string | null;
  script?: string;
}

/** An environment whose `flux` is the stand-in, recording into its own folder. */
function fluxWorld(): { env: NodeJS.ProcessEnv; calls(): Call[]; violations(): unknown[] } {
  const dir = tempDir('maestro-flux-');
  worlds.push(dir);
  const read = (file: string): unknown[] =>
    existsSync(path.join(dir, file))
      ? readFileSync(path.join(dir, file), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as unknown)
      : [];
  return {
    env: { ...process.env, PATH: `${STANDIN}:${process.env['PATH']}`, FLUX_STANDIN_DIR: dir },
    calls: () => read('calls.jsonl') as Call[],
    violations: () => read('violations.jsonl'),
  };
}

const study = `study:
  - name: where
    description: what a step sees of its Flux job
    run:
      cmd: echo "$FLUX_JOB_ID $MAESTRO_WORKER" > where.txt
  - name: tasks
    description: two tasks through $(LAUNCHER)
    run:
      cmd: |
        $(LAUNCHER) bash -c 'echo "task $FLUX_TASK_RANK"' | sort > tasks.txt
      procs: 2
      cores per task: 2
      depends: [where]
`;

describe('Flux, through a recording stand-in of the flux command', () => {
  it('maestro workers launch --scheduler flux: the contract command lines and script, and the study runs through them', async () => {
    const flux = fluxWorld();
    const dir = tempDir();
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'fluxed', study);
    const run = startMaestro(['run', spec, '-o', root, ...redisFlags(), '--prefix', prefix, '--local-workers', '0']);
    await waitFor(() => existsSync(path.join(root, 'meta/study.json')), 60_000, 'the study folder');

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
        '2:00:00',
        '--queue',
        'pdebug',
        '--bank',
        'mybank',
        '--cores-per-node',
        '4',
      ],
      { env: flux.env },
    );
    expect(launched.exitCode, launched.stderr).toBe(0);
    const id = /Submitted flux allocation (ƒ\w+): 2 nodes, 02:00:00, queues steps/.exec(launched.stdout)?.[1];
    expect(id, launched.stdout).toBeDefined();
    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(statesByName(root)).toEqual({ where: 'FINISHED', tasks: 'FINISHED' });
    expect(readFileSync(path.join(root, 'where/where.txt'), 'utf8')).toMatch(new RegExp(`^${id}\\.w[01] `));
    expect(readFileSync(path.join(root, 'tasks/tasks.txt'), 'utf8')).toBe('task 0\ntask 1\n');

    const calls = flux.calls();
    // Submitted as the contract says, settings on the command line and as directives.
    const batch = calls.filter((c) => c.argv[0] === 'batch');
    expect(batch).toHaveLength(1);
    const scriptPath = batch[0]!.argv.at(-1)!;
    expect(batch[0]!.argv).toEqual([
      'batch',
      '-N',
      '2',
      '-t',
      '120m',
      '-q',
      'pdebug',
      '--setattr=system.bank=mybank',
      scriptPath,
    ]);
    expect(path.dirname(scriptPath)).toBe(path.join(root, 'workers'));
    const script = batch[0]!.script!;
    expect(script.split('\n').filter((l) => l.startsWith('# flux: '))).toEqual([
      '# flux: --job-name=maestro.fluxed',
      '# flux: -N 2',
      `# flux: --output=${path.join(root, 'workers', 'flux-{{id}}.out')}`,
      '# flux: -t 120m',
      '# flux: -q pdebug',
      '# flux: --setattr=system.bank=mybank',
    ]);
    expect(script).toContain("export MAESTRO_SCHEDULER='flux'\n");
    expect(script).toContain('export MAESTRO_ALLOCATION_ID="$FLUX_JOB_ID"');
    expect(script).not.toContain(redis.password);
    // One worker per node, launched by flux run inside the batch job.
    const workers = calls.filter((c) => c.argv[0] === 'run' && c.argv.includes('--tasks-per-node=1'));
    expect(workers.map((c) => [c.argv, c.jobId])).toEqual([
      [['run', '-N', '2', '--tasks-per-node=1', process.execPath, WORKER_BIN], id],
    ]);
    // $(LAUNCHER): flux run -n P -N N -c C inside a worker's job.
    const steps = calls.filter((c) => c.argv[0] === 'run' && c.argv[1] === '-n');
    expect(steps.map((c) => c.argv.slice(0, 7))).toEqual([['run', '-n', '2', '-N', '1', '-c', '2']]);
    expect(steps[0]!.jobId).toMatch(new RegExp(`^${id}\\.w[01]$`));
    // The workers asked their time left, in their own jobs; a worker asks before its first step,
    // so the one that ran `where` did (the other may still be starting when the study ends).
    const timeleft = calls.filter((c) => c.argv.join(' ') === 'job timeleft');
    for (const c of timeleft) expect(c.jobId).toMatch(new RegExp(`^${id}\\.w[01]$`));
    const whereJob = readFileSync(path.join(root, 'where/where.txt'), 'utf8').split(' ')[0];
    expect(timeleft.map((c) => c.jobId)).toContain(whereJob);

    const listed = await maestro(['workers', 'list', '--study', root, '--redis-password-file', redis.passwordFile], {
      env: flux.env,
    });
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}\\s+flux\\s+running\\s+2\\s+0[12]:\\d\\d:\\d\\d\\s+2\\s+0\\s+\\d\\s+launch$`, 'm'),
    );
    expect(
      flux
        .calls()
        .filter((c) => c.argv[0] === 'jobs')
        .map((c) => c.argv),
    ).toEqual([['jobs', '-a', '-n', '-o', '{id.f58} {state}']]);

    const stopped = await maestro(
      ['workers', 'stop', '--now', '--study', root, '--redis-password-file', redis.passwordFile],
      {
        env: flux.env,
      },
    );
    expect(stopped.stdout).toContain(`Cancelled flux allocation ${id}`);
    expect(
      flux
        .calls()
        .filter((c) => c.argv[0] === 'cancel')
        .map((c) => c.argv),
    ).toEqual([['cancel', id]]);
    expect(flux.violations()).toEqual([]);
  });

  it('maestro run --autoscale flux: submits through flux batch, cancels with flux cancel when the study ends', async () => {
    const flux = fluxWorld();
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'scaled', study);
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
        '10',
        '--cores-per-node',
        '4',
        '--nodes-per-allocation',
        '2',
      ],
      { env: flux.env, timeout: 120_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(statesByName(root)).toEqual({ where: 'FINISHED', tasks: 'FINISHED' });
    const calls = flux.calls();
    const batch = calls.filter((c) => c.argv[0] === 'batch');
    expect(batch.map((c) => c.argv.slice(0, 5))).toEqual([['batch', '-N', '1', '-t', '10m']]);
    const id = calls.find((c) => c.argv[0] === 'run' && c.argv.includes('--tasks-per-node=1'))?.jobId;
    expect(calls.filter((c) => c.argv[0] === 'cancel').map((c) => c.argv)).toEqual([['cancel', id]]);
    expect(flux.violations()).toEqual([]);
  });

  it('refuses options Flux does not have, before running anything', async () => {
    const flux = fluxWorld();
    const r = await maestro(
      ['workers', 'launch', '--scheduler', 'flux', ...redisFlags(), '--reservation', 'r1', '--qos', 'q'],
      {
        env: flux.env,
      },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('--reservation: Flux has no reservations; pass what your site uses in --extra');
    expect(r.stderr).toContain('--qos: Flux has no QoS; pass what your site uses in --extra');
    expect(flux.calls()).toEqual([]);
  });
});
