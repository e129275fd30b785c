/**
 * Redis dies or stops answering mid-study. The study runs on a private redis-server with its
 * append-only file on (as a production Redis and the embedded one run), the conductor and its
 * local workers on it.
 * - SIGKILL, then a restart from the append-only file on the same port;
 * - unreachable for 30 s (the process frozen with SIGSTOP), longer than the worker locks and the
 *   conductor lease.
 * Conductor and workers wait, reconnect and finish; each ends with the audit.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startRun } from '../helpers/processes.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStudy } from './audit.js';

const servers: RedisServer[] = [];
afterEach(async () => {
  await killAll();
  for (const s of servers.splice(0)) {
    s.signal('SIGCONT');
    await s.stop();
  }
});

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
});
