/**
 * The study's own redis-server dies mid-study (SIGKILL: the OOM killer, a stray kill): the
 * conductor notices at once, says so in one sentence with the server's last log lines, ends its
 * local workers and their steps, leaves the study STOPPED and resumable, and exits non-zero;
 * `maestro resume` finishes the study. A script that keeps it busy for seconds (Redis starved of
 * CPU, or a huge commit) is waited out: the study finishes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { describeProcesses, isAlive, killAll, processFamily, startMaestro } from '../helpers/processes.js';
import { keepBusy } from '../helpers/redis-server.js';
import { readStatus, tempDir, waitFor, waitForRunning, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStep } from './audit.js';

afterEach(killAll);

/** Where the steps run: in the conductor's own process (the default) or in worker processes. */
const WORKERS = {
  'in the conductor': [],
  'in worker processes': ['--local-workers', '2', '--worker-concurrency', '2'],
} as const;

describe.each(Object.entries(WORKERS))('the embedded Redis dies, steps %s', (_mode, workers) => {
  it('SIGKILLed mid-study: the run ends within 30 s, saying so; resume finishes the study', async () => {
    const dir = tempDir('maestro-fault-eredis-');
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'eredis',
      `study:
  - name: quick
    description: finishes before the kill
    run:
      cmd: '${faultStep('0.1')} # $(N)'
  - name: held
    description: runs until the test lets it end
    run:
      cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')} # $(N)'
      depends: [quick_*]
global.parameters:
  N: {values: [0, 1, 2], label: N.%%}
`,
    );
    const run = startMaestro(['run', '-o', root, ...workers, spec], { detached: true });
    await waitForRunning(root, 'held', 2);
    const family = processFamily(run.pid!);
    const redisPid = Number(readFileSync(path.join(root, 'meta/redis/redis.pid'), 'utf8'));
    expect(family).toContain(redisPid);
    process.kill(redisPid, 'SIGKILL');
    const killedAt = Date.now();
    const result = await run;
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(result.exitCode, String(result.all)).not.toBe(0);
    expect(result.all).toMatch(
      new RegExp(
        `maestro: the study's redis-server was killed by SIGKILL; the study stopped, and can be continued with: maestro resume ${root}\\n` +
          `its last log lines \\(${root}/meta/redis/redis.log\\):\\n( {2}.*\\n)* {2}.*ready to accept connections`,
      ),
    );
    // Its workers and their steps are gone too.
    await waitFor(() => family.every((p) => !isAlive(p)), 10_000, 'the run to leave nothing behind').catch(() =>
      expect.fail(`still running:\n${describeProcesses(family.filter(isAlive))}`),
    );
    const status = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as {
      state: string;
      stoppedBecause: string;
    };
    expect(status).toMatchObject({
      state: 'STOPPED',
      stoppedBecause: "the study's redis-server was killed by SIGKILL",
    });

    writeFileSync(path.join(dir, 'go'), '');
    const resumed = await maestro(['resume', root, ...workers], { timeout: 120_000 });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const report = auditStudy(root);
    expect(report.problems).toEqual([]);
    expect(Object.values(report.states).every((s) => s === 'FINISHED')).toBe(true);
  });
});

describe('the embedded Redis is busy', () => {
  it("runs a script for 7 s mid-study (past Redis's default 5 s before BUSY replies): everyone waits, nobody is told BUSY, the study finishes", async () => {
    const dir = tempDir('maestro-fault-ebusy-');
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'ebusy',
      `study:
  - name: held
    description: runs until the test lets it end
    run:
      cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')} # $(N)'
  - name: after
    description: sent while Redis is busy or after
    run:
      cmd: '${faultStep('0.1')} # $(N)'
      depends: [held]
global.parameters:
  N: {values: [0, 1, 2, 3], label: N.%%}
`,
    );
    const run = startMaestro(['run', '-o', root, '--local-workers', '2', '--worker-concurrency', '2', spec]);
    await waitForRunning(root, 'held', 4);
    const redis = new Redis({
      path: path.join(root, 'meta/redis/redis.sock'),
      password: readFileSync(path.join(root, 'meta/redis/password'), 'utf8').trim(),
      maxRetriesPerRequest: null,
    });
    try {
      // The held steps end while the script runs: their results, the conductor's commits and
      // its lease renewal all wait for it.
      const busy = keepBusy(redis, 7_000);
      writeFileSync(path.join(dir, 'go'), '');
      expect(await busy).toBe(1);
    } finally {
      redis.disconnect();
    }
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(auditStudy(root).problems).toEqual([]);
    expect(readStatus(root).map((r) => r.state)).toEqual(Array(8).fill('FINISHED'));
    // Nobody was told BUSY (a worker told it failed its report and spun on its queue errors).
    const logs = [
      path.join(root, 'meta/conductor.log'),
      ...['worker-1', 'worker-2'].map((w) => path.join(root, `meta/logs/${w}.log`)),
    ];
    for (const log of logs) expect(readFileSync(log, 'utf8'), log).not.toContain('BUSY');
  }, 120_000);
});
