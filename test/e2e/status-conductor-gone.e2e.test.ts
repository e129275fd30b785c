/**
 * A conductor SIGKILLed in the middle of its study (as a node that reboots leaves it): within
 * twice the lease's 15 s, `maestro status` and the dashboard's study API and page say that no
 * conductor runs the study, name the last one, give no ETA and name `maestro resume`; after the
 * resume, the study ends and nothing of it remains.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, waitForOutput } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
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

  it('the dashboard says so too: its study API and page, with no ETA', { timeout: 240_000 }, async () => {
    const prefix = `g${randomUUID().slice(0, 8)}`;
    const { gate, root, run } = await runningStudy({ redis: redisUrl, prefix });
    const id = (JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as { id: string }).id;
    const dash = startMaestro(['dashboard', '--redis', redisUrl, '--prefix', prefix, '--port', '0']);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    type Detail = { state: string; etaMs: number | null; conductor: { running: boolean; message: string | null } };
    const detail = async (): Promise<Detail> => (await (await fetch(`${url}api/studies/${id}`)).json()) as Detail;
    expect((await detail()).conductor).toMatchObject({ running: true, message: null });
    // Each lease renewal (every 5 s) notes the time in the study's hash: the "since" of the notice.
    const redis = new Redis(redisUrl);
    cleanups.push(() => redis.disconnect());
    await waitFor(() => redis.hget(`${prefix}:study:${id}`, 'heartbeatAt'), 30_000, 'a lease renewal');

    const pid = run.pid!;
    run.kill('SIGKILL');
    await run;
    const killedAt = Date.now();
    const gone = await waitFor(
      async () => {
        const d = await detail();
        return d.conductor.running ? undefined : d;
      },
      WITHIN_MS + 10_000,
      'the dashboard to say the conductor is not running',
    );
    expect(Date.now() - killedAt).toBeLessThan(WITHIN_MS);
    expect(gone).toMatchObject({
      state: 'RUNNING',
      etaMs: null,
      conductor: { running: false, host: hostname(), pid },
    });
    expect(gone.conductor.message).toMatch(
      new RegExp(
        `^Conductor not running since \\S+ \\(${hostname()}, pid ${pid}\\); continue the study with: maestro resume ${root}$`,
      ),
    );

    // The page shows it where the study's name and state are.
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`${url}#/study/${encodeURIComponent(id)}`);
    const notice = page.locator('[data-testid="conductor-gone"]');
    await notice.waitFor({ timeout: 30_000 });
    expect(await notice.textContent()).toContain(`maestro resume ${root}`);
    expect(await page.locator('[data-stat="eta"] .n').textContent()).toBe('--');

    // status, given the shared Redis as a user would, agrees.
    const status = await maestro(['status', root], { env: { MAESTRO_REDIS_URL: redisUrl } });
    expect(status.stdout).toContain(`continue the study with: maestro resume ${root}`);
    mkdirSync(path.dirname(gate), { recursive: true });
    writeFileSync(gate, '');
  });
});
