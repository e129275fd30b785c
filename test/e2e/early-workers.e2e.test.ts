/**
 * `maestro run --local-workers N` starts its first local worker before it reads the spec, and tells it its Redis
 * on its standard input once the study's Redis answers (`maestro-worker --settings-on-stdin`).
 * A worker that was never told must not outlive the run, whatever ends it: a Ctrl-C to the
 * run's process group, the conductor killed outright, or a spec that turns out to be wrong.
 * The run is held in its spec reading by a parameter generator that waits for a file.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { WORKER_BIN } from '../helpers/cli.js';
import { describeProcesses, isAlive, killAll, signalGroup, startMaestro } from '../helpers/processes.js';
import { processesWith, statesByName, tempDir, waitFor, writeSpec } from '../helpers/study.js';

afterEach(killAll);

const redisUrl = inject('redisUrl');

const SPEC = `study:
  - {name: s, description: d, run: {cmd: "echo $(N) > out"}}
`;

/** A run held in its parameter generator until `go` exists in its folder. */
function heldRun(name: string): { dir: string; root: string; run: ReturnType<typeof startMaestro> } {
  const dir = tempDir(`maestro-e2e-early-${name}-`);
  const spec = writeSpec(dir, name, SPEC);
  const gen = path.join(dir, 'gen.sh');
  writeFileSync(
    gen,
    `#!/bin/sh\nwhile [ ! -e '${dir}/go' ]; do sleep 0.05; done\necho '{"N": {"values": [1], "label": "N.%%"}}'\n`,
  );
  chmodSync(gen, 0o755);
  const root = path.join(dir, 'study');
  const run = startMaestro(['run', '-o', root, '--local-workers', '1', '--pgen', gen, spec], {
    cwd: dir,
    detached: true,
  });
  return { dir, root, run };
}

/** The run's early worker, once it is up (its name holds the conductor's pid). */
async function earlyWorker(conductorPid: number): Promise<number> {
  const [pid] = await waitFor(
    () => {
      const pids = processesWith(`--name local-${conductorPid}-1`).filter((p) => p !== conductorPid);
      return pids.length > 0 && pids;
    },
    30_000,
    'the early worker to start',
  );
  return pid!;
}

async function gone(pid: number): Promise<void> {
  await waitFor(() => !isAlive(pid), 15_000, 'the early worker to exit').catch(() =>
    expect.fail(`still running:\n${describeProcesses([pid])}`),
  );
}

describe('a local worker started before the spec is read', () => {
  it('runs the study once its Redis is known', async () => {
    const { dir, root, run } = heldRun('runs');
    const worker = await earlyWorker(run.pid!);
    writeFileSync(path.join(dir, 'go'), '');
    const r = await run;
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(statesByName(root)).toEqual({ 's_N.1': 'FINISHED' });
    expect(isAlive(worker)).toBe(false);
    expect(existsSync(path.join(root, 'meta/logs/worker-1.log'))).toBe(true);
  });

  it('is gone after a Ctrl-C to the run while the spec is being read', async () => {
    const { run } = heldRun('ctrl-c');
    const worker = await earlyWorker(run.pid!);
    signalGroup(run.pid!, 'SIGINT');
    await run;
    await gone(worker);
  });

  it('is gone after the conductor is killed outright before it had a Redis', async () => {
    const { dir, run } = heldRun('kill');
    const worker = await earlyWorker(run.pid!);
    process.kill(run.pid!, 'SIGKILL');
    await run;
    await gone(worker);
    writeFileSync(path.join(dir, 'go'), ''); // lets the orphaned generator end; nothing else would
  });

  it('is gone when the spec turns out to be wrong', async () => {
    const dir = tempDir('maestro-e2e-early-bad-');
    const spec = writeSpec(dir, 'bad', 'study:\n  - {name: s, description: d, run: {cmd: "true", depends: [nope]}}\n');
    const run = startMaestro(['run', '-o', path.join(dir, 'study'), '--local-workers', '1', spec]);
    const r = await run;
    expect(r.all).toContain('nope');
    expect(r.exitCode).not.toBe(0);
    await waitFor(() => processesWith(`--name local-${run.pid}-1`).length === 0, 15_000, 'no early worker left');
  });
});

describe('a run refused after its early worker started', () => {
  it('ends, and leaves no worker behind', async () => {
    const dir = tempDir('maestro-e2e-early-refused-');
    const spec = writeSpec(dir, 'refused', SPEC.replace('$(N)', '1'));
    // Refused in runCommand's first lines, after main.ts started the worker.
    const run = startMaestro(['run', '-o', path.join(dir, 'study'), '--local-workers', '1', '--dashboard', '0', spec], {
      env: { MAESTRO_DASHBOARD_AUTH: 'no-colon' },
    });
    const r = await run;
    expect(r.all).toContain('must be user:password');
    expect(r.exitCode).toBe(1);
    await waitFor(() => processesWith(`--name local-${run.pid}-1`).length === 0, 15_000, 'no early worker left');
  });
});

describe('maestro-worker --settings-on-stdin', () => {
  it('exits at once, connecting to nothing, when its stdin ends without a line', async () => {
    const w = execa(process.execPath, [WORKER_BIN, '--settings-on-stdin'], { reject: false, input: '' });
    const r = await w;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('reads its Redis and queues from the line, as if from its environment', async () => {
    const settings = JSON.stringify({ MAESTRO_REDIS_URL: redisUrl, MAESTRO_QUEUES: 'early-a,early-b' });
    const r = await execa(
      process.execPath,
      [WORKER_BIN, '--settings-on-stdin', '--prefix', `t${Date.now()}`, '--idle-timeout', '1ms'],
      { reject: false, input: `${settings}\n`, env: { MAESTRO_REDIS_URL: 'redis://127.0.0.1:1' } },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('"queues":["early-a","early-b"]');
  });

  it('refuses a line that sets anything but its own variables', async () => {
    const r = await execa(process.execPath, [WORKER_BIN, '--settings-on-stdin'], {
      reject: false,
      input: `${JSON.stringify({ PATH: '/tmp' })}\n`,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('PATH is not a MAESTRO_* variable');
  });
});
