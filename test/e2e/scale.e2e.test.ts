/**
 * What keeps big studies cheap, checked without timing: the conductor keeps at most --window jobs
 * waiting in Redis, and workspaces are created by the worker just before a step runs.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { killAll, startRun, startWorker } from '../helpers/processes.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

describe('big studies stay small in Redis and on disk', () => {
  it('never has more than --window jobs waiting, and creates workspaces only as steps run', async () => {
    const dir = tempDir();
    const prefix = `w${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'windowed',
      `study:\n  - {name: s, description: "step $(N)", run: {cmd: "echo $(N) > n.txt"}}\nglobal.parameters:\n  N: {values: [${Array.from({ length: 40 }, (_, k) => k).join(', ')}], label: N.%%}\n`,
    );
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('steps', { connection, prefix });
    let sampling = true;
    let sampler: Promise<void> = Promise.resolve();
    try {
      const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0, extra: ['--window', '5'] });
      // No worker yet: the conductor fills the window and stops there; no workspace exists.
      await waitFor(async () => (await queue.getWaitingCount()) === 5, 30_000, 'the window to fill');
      expect(existsSync(path.join(root, 's'))).toBe(false);
      let mostWaiting = 0;
      sampler = (async () => {
        while (sampling) {
          mostWaiting = Math.max(mostWaiting, await queue.getWaitingCount());
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      void startWorker(redisUrl, prefix, 'one', ['--concurrency', '1']);
      // While it runs, no workspace is created ahead of its step: with one slot, at most one
      // workspace on disk lacks the file its step writes.
      const steps = path.join(root, 's');
      await waitFor(() => existsSync(steps) && readdirSync(steps).length >= 10, 60_000, 'ten steps');
      const onDisk = readdirSync(steps);
      expect(onDisk.length).toBeLessThan(40);
      expect(onDisk.filter((ws) => !existsSync(path.join(steps, ws, 'n.txt'))).length).toBeLessThanOrEqual(1);
      const result = await run;
      sampling = false;
      await sampler;
      expect(readStatus(root).every((r) => r.state === 'FINISHED')).toBe(true);
      expect(result.exitCode, String(result.all)).toBe(0);
      expect(mostWaiting).toBeLessThanOrEqual(5);
      expect(readdirSync(path.join(root, 's'))).toHaveLength(40);
    } finally {
      sampling = false;
      await sampler;
      await queue.close();
      connection.disconnect();
    }
  });
});
