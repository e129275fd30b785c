/**
 * A conductor SIGKILLed in the middle of its study (as a node that reboots leaves it): within
 * twice the lease's 15 s, `maestro status` says that no conductor runs the study, names the last
 * one, gives no ETA and names `maestro resume`; after the resume, the study ends and nothing of
 * it remains.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, waitForOutput } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await killAll();
});

/** The acceptance bound: twice the lease's time to live (run/conduct.ts: 15 s). */
const WITHIN_MS = 30_000;

function gatedSpec(gate: string): string {
  return `study:
  - name: work
    description: waits for the test
    run:
      cmd: echo $(N); while [ ! -e ${gate} ]; do sleep 0.1; done
global.parameters:
  N: {values: [1, 2, 3, 4], label: N.%%}
`;
}

/** Starts a study, waits until its steps run and status.json carries a heartbeat. */
async function runningStudy(extra: { redis?: string; prefix?: string } = {}) {
  const dir = tempDir();
  const gate = path.join(dir, 'go');
  const root = path.join(dir, 'study');
  const spec = writeSpec(dir, 'orphan', gatedSpec(gate));
  const run = extra.redis
    ? startRun(spec, root, extra.redis, { prefix: extra.prefix, localWorkers: 1, extra: ['--worker-concurrency', '2'] })
    : startMaestro(['run', '-o', root, '--local-workers', '1', '--worker-concurrency', '2', spec]);
  await waitForOutput(run, /starting study/, 60_000);
  await waitFor(
    () => {
      try {
        const s = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as {
          running: number;
          conductor?: { pid: number };
        };
        return s.running === 2 && s.conductor?.pid === run.pid;
      } catch {
        return false;
      }
    },
    60_000,
    'two steps running',
  );
  return { dir, gate, root, run };
}

describe('a study whose conductor was killed', () => {
  it('maestro status says so from the files, then maestro resume continues it', { timeout: 240_000 }, async () => {
    const { gate, root, run } = await runningStudy();
    const before = await maestro(['status', root]);
    expect(before.stdout).toMatch(/State: RUNNING \| 4 instances: RUNNING 2, PENDING 2/);
    expect(before.stdout).not.toContain('not running');

    const pid = run.pid!;
    run.kill('SIGKILL');
    await run;
    const killedAt = Date.now();
    // Its embedded Redis and workers die with it: status has the files alone.
    const after = await waitFor(
      async () => {
        const r = await maestro(['status', root]);
        return r.stdout.includes('not running') ? r : undefined;
      },
      WITHIN_MS + 10_000,
      'status to say the conductor is not running',
    );
    expect(Date.now() - killedAt).toBeLessThan(WITHIN_MS);
    const lines = after.stdout.split('\n');
    expect(lines[1]).toMatch(/^State: RUNNING \(no conductor\) \| 4 instances: .* \| ETA --$/);
    expect(lines[2]).toBe(
      `Conductor not running since ${lines[2]!.match(/since (\S+)/)![1]} (${hostname()}, pid ${pid}); continue the study with: maestro resume ${root}`,
    );
    const json = JSON.parse((await maestro(['status', '--json', root])).stdout) as { conductor: unknown };
    expect(json.conductor).toMatchObject({
      running: false,
      host: hostname(),
      pid,
      resume: `maestro resume ${root}`,
    });

    writeFileSync(gate, '');
    const resumed = await maestro(['resume', root, '--local-workers', '1'], { timeout: 150_000 });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const done = await maestro(['status', root]);
    expect(done.stdout).toMatch(/State: FINISHED \| 4 instances: FINISHED 4/);
    expect(done.stdout).not.toContain('not running');
    expect((JSON.parse((await maestro(['status', '--json', root])).stdout) as { conductor: unknown }).conductor).toBe(
      null,
    );
  });
});
