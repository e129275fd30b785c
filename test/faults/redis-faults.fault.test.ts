/**
 * Redis dies or stops answering mid-study. The study runs on a private redis-server with its
 * append-only file on (as a production Redis and the embedded one run), the conductor and its
 * local workers on it.
 * - SIGKILL, then a restart from the append-only file on the same port;
 * - unreachable for 30 s (the process frozen with SIGSTOP), longer than the worker locks and the
 *   conductor lease.
 * Conductor and workers wait, reconnect and finish; each ends with the audit.
 * And the faults that stop a study, each said in one sentence with what to do, the study left
 * STOPPED and resumable, `maestro resume` finishing it once the fault is gone:
 * - Redis away longer than --redis-timeout;
 * - Redis out of memory (maxmemory reached under noeviction): OOM;
 * - Redis's disk full: it cannot write its append-only file, MISCONF.
 * And one that is waited out: a script keeps a shared Redis (its lua-time-limit the default 5 s)
 * busy for 7 s, so it answers BUSY meanwhile.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startRun } from '../helpers/processes.js';
import { keepBusy, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { readStatus, tempDir, waitFor, waitForRunning, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStep, faultStudy } from './audit.js';

const servers: RedisServer[] = [];
const mounts: string[] = [];
afterEach(async () => {
  await killAll();
  for (const s of servers.splice(0)) {
    s.signal('SIGCONT');
    await s.stop();
  }
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
});

/** Two steps held until the test creates `go` in the spec's folder, and one after them. */
const HELD = `study:
  - name: held
    description: runs until the test lets it end
    run:
      cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')} # $(N)'
  - {name: after, description: then, run: {cmd: '${faultStep('0.1')}', depends: [held_*]}}
global.parameters:
  N: {values: [0, 1], label: N.%%}
`;

interface HeldStudy {
  readonly dir: string;
  readonly root: string;
  readonly run: ReturnType<typeof startRun>;
}

/** A study on `redis` whose held steps run. */
async function startHeld(redis: RedisServer, name: string, extra: string[] = []): Promise<HeldStudy> {
  const dir = tempDir(`maestro-fault-${name}-`);
  const root = path.join(dir, 'study');
  const spec = writeSpec(dir, name, HELD);
  const run = startRun(spec, root, redis.url, { localWorkers: 1, extra: ['--worker-concurrency', '2', ...extra] });
  await waitForRunning(root, 'held', 2);
  return { dir, root, run };
}

/** The run ended with exit code 1 and `message`, its status says STOPPED; then resume finishes the study. */
async function expectStoppedThenResume(
  study: HeldStudy,
  redis: RedisServer,
  message: RegExp,
  fixFault: () => Promise<void>,
): Promise<void> {
  const { dir, root, run } = study;
  const result = await run;
  expect(result.exitCode, String(result.all)).toBe(1);
  expect(result.all).toMatch(message);
  expect(result.all).toContain(`; the study stopped, and can be continued with: maestro resume ${root}`);
  const status = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as { state: string };
  expect(status.state).toBe('STOPPED');
  await fixFault();
  writeFileSync(path.join(dir, 'go'), '');
  const resumed = await maestro(['resume', root, '--redis', redis.url, '--local-workers', '1'], { timeout: 120_000 });
  expect(resumed.exitCode, resumed.stderr).toBe(0);
  const report = auditStudy(root);
  expect(report.problems).toEqual([]);
  expect(Object.values(report.states).every((st) => st === 'FINISHED')).toBe(true);
}

function finishedCount(root: string): number {
  try {
    return readStatus(root).filter((r) => r.state === 'FINISHED').length;
  } catch {
    return 0;
  }
}

describe('Redis faults', () => {
  it(
    'Redis SIGKILLed and restarted from its append-only file mid-study: the study finishes; the audit holds',
    { timeout: 180_000 },
    async () => {
      const redis = await startRedisServer({ appendonly: true });
      servers.push(redis);
      const dir = tempDir();
      const root = path.join(dir, 'study');
      const spec = writeSpec(dir, 'rkill', faultStudy(8, '0.5'));
      const run = startRun(spec, root, redis.url, { localWorkers: 2, extra: ['--worker-concurrency', '3'] });
      await waitFor(() => finishedCount(root) >= 3, 60_000, 'some steps to finish');
      redis.signal('SIGKILL');
      await new Promise((r) => redis.process.once('exit', r));
      const restarted = await startRedisServer({ appendonly: true, dir: redis.dir, port: redis.port });
      servers.push(restarted);
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(0);
      const report = auditStudy(root);
      expect(report.problems).toEqual([]);
      expect(Object.values(report.states).every((s) => s === 'FINISHED')).toBe(true);
    },
  );

  it(
    'Redis unreachable for 30 s: conductor and workers wait, reconnect and finish; the audit holds',
    { timeout: 240_000 },
    async () => {
      const redis = await startRedisServer({ appendonly: true });
      servers.push(redis);
      const dir = tempDir();
      const root = path.join(dir, 'study');
      const spec = writeSpec(dir, 'rstop', faultStudy(8, '0.5'));
      const run = startRun(spec, root, redis.url, { localWorkers: 2, extra: ['--worker-concurrency', '3'] });
      await waitFor(() => finishedCount(root) >= 3, 60_000, 'some steps to finish');
      redis.signal('SIGSTOP');
      const stoppedAt = Date.now();
      await waitFor(() => Date.now() - stoppedAt >= 30_000, 40_000, 'the outage to last 30 s');
      redis.signal('SIGCONT');
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(0);
      const report = auditStudy(root);
      expect(report.problems).toEqual([]);
      expect(Object.values(report.states).every((s) => s === 'FINISHED')).toBe(true);
    },
  );

  it('a script keeps a shared Redis busy for 7 s (BUSY replies after 5 s): workers ask again, every result is reported, the study finishes', async () => {
    const redis = await startRedisServer({ appendonly: true });
    servers.push(redis);
    const study = await startHeld(redis, 'rbusy');
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    try {
      // The held steps end while the script runs: their workers' reports are told BUSY.
      const busy = keepBusy(client, 7_000);
      await new Promise((r) => setTimeout(r, 5_500));
      writeFileSync(path.join(study.dir, 'go'), '');
      expect(await busy).toBe(1);
    } finally {
      client.disconnect();
    }
    const result = await study.run;
    expect(result.exitCode, String(result.all)).toBe(0);
    const report = auditStudy(study.root);
    expect(report.problems).toEqual([]);
    expect(Object.values(report.states).every((st) => st === 'FINISHED')).toBe(true);
    const workerLog = readFileSync(path.join(study.root, 'meta/logs/worker-1.log'), 'utf8');
    expect(workerLog).not.toContain('result could not be reported');
    expect(workerLog).not.toContain('step job failed in the worker');
    // BullMQ's own BUSY replies are said now and then as a warning, not as errors many times a second.
    expect(workerLog).not.toContain('"msg":"queue error"');
  }, 120_000);

  it('Redis away longer than --redis-timeout: the run stops within it, saying so; resume finishes', async () => {
    const redis = await startRedisServer({ appendonly: true });
    servers.push(redis);
    const study = await startHeld(redis, 'rtimeout', ['--redis-timeout', '3s']);
    redis.signal('SIGSTOP');
    const stoppedAt = Date.now();
    await study.run;
    // The timeout, a second between pings, and the run's own end.
    expect(Date.now() - stoppedAt).toBeLessThan(3_000 + 10_000);
    await expectStoppedThenResume(
      study,
      redis,
      /maestro: Redis at redis:\/\/127\.0\.0\.1:\d+ has not answered for [34]s;/,
      async () => redis.signal('SIGCONT'),
    );
  });

  it('Redis out of memory (OOM under noeviction): the run stops, saying what to do; resume finishes', async () => {
    const redis = await startRedisServer({ appendonly: true });
    servers.push(redis);
    const study = await startHeld(redis, 'room');
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory', '1');
      await expectStoppedThenResume(
        study,
        redis,
        /maestro: Redis at redis:\/\/127\.0\.0\.1:\d+ is out of memory and refuses every write \(it said: command not allowed when used memory > 'maxmemory'\): raise its maxmemory \(CONFIG SET maxmemory\) or free memory in it;/,
        async () => void (await admin.config('SET', 'maxmemory', '0')),
      );
    } finally {
      admin.disconnect();
    }
  });

  it("Redis's disk full (MISCONF): the run stops, saying what to do; resume finishes once there is room", async () => {
    // Redis's folder on a small tmpfs (the suite runs as root), filled while the study runs.
    const dir = tempDir('maestro-redis-disk-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
    mounts.push(dir);
    const redis = await startRedisServer({ appendonly: true, dir });
    servers.push(redis);
    const study = await startHeld(redis, 'rdisk');
    const filler = path.join(dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
    } catch {
      // full: what the test wants
    }
    await expectStoppedThenResume(
      study,
      redis,
      /maestro: Redis at redis:\/\/127\.0\.0\.1:\d+ refuses every write because it cannot save to its disk \(it said: Errors writing to the AOF file: No space left on device\): free space on that disk, or make it writable;/,
      async () => {
        rmSync(filler);
        // Redis retries its append-only file by itself; writes are accepted once that worked.
        const admin = new Redis(redis.url);
        try {
          await waitFor(
            async () => /aof_last_write_status:ok/.test(await admin.info('persistence')),
            30_000,
            'Redis to write its append-only file again',
          );
        } finally {
          admin.disconnect();
        }
      },
    );
  });
});
