/**
 * What a study leaves in a shared Redis (issue #26): a cancel removes the study's queued jobs, all
 * of them, before the conductor ends; a study that ends removes the jobs that failed in the queue
 * (kept until then for reconciliation). Other studies' jobs in the same queue are left alone.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { CONTROL_FIELD, controlKey, DEFAULT_QUEUE, type ControlRequest } from '@maestro/protocol';
import { expandStudy, parseStudy } from '@maestro/spec';
import { testConductor, type TestConductorOptions } from './helpers/test-conductor.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A sweep of `n` instances of one step. */
function sweep(n: number) {
  const values = Array.from({ length: n }, (_, k) => k).join(',');
  const yaml = `description: {name: t, description: test}
study:
  - {name: s, description: d, run: {cmd: "$(P)"}}
global.parameters:
  P: {values: [${values}], label: P.%%}
`;
  return expandStudy(parseStudy(yaml).study, { root: '/tmp/maestro-int', specRoot: '/tmp', cwd: '/tmp' });
}

function setup(n: number, opts: TestConductorOptions = {}) {
  const t = testConductor(url, sweep(n), { window: 10_000, ...opts });
  closers.push(t.close);
  return t;
}

/** Keys of study `studyId`'s jobs in the default queue (SCAN: a test may look, the code never does). */
async function jobKeys(redis: Redis, prefix: string, studyId: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:${DEFAULT_QUEUE}:${studyId}.*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

async function waiting(redis: Redis, prefix: string, studyId: string): Promise<number> {
  const ids = await redis.lrange(`${prefix}:${DEFAULT_QUEUE}:wait`, 0, -1);
  return ids.filter((id) => id.startsWith(`${studyId}.`)).length;
}

describe('a study leaves no jobs of its own behind', () => {
  it('a cancel removes the thousands of jobs it had queued, and waits for it; another study keeps its own', async () => {
    const n = 3000;
    const other = setup(20, { studyId: 'other' });
    const done = other.conductor.run();
    await vi.waitFor(async () => expect(await waiting(other.redis, other.prefix, 'other')).toBe(20), {
      timeout: 10_000,
    });
    other.conductor.stop();
    expect(await done).toBe('RUNNING');

    const t = setup(n, { prefix: other.prefix, studyId: 'big' });
    const running = t.conductor.run();
    await vi.waitFor(async () => expect(await waiting(t.redis, t.prefix, 'big')).toBe(n), {
      timeout: 20_000,
      interval: 100,
    });
    expect((await jobKeys(t.redis, t.prefix, 'big')).length).toBe(n);
    const req: ControlRequest = { type: 'cancel' };
    await t.redis.xadd(controlKey(t.prefix, 'big'), '*', CONTROL_FIELD, JSON.stringify(req));
    expect(await running).toBe('CANCELLED');
    // Gone when the conductor returns, not some time later.
    expect(await jobKeys(t.redis, t.prefix, 'big')).toEqual([]);
    expect(await waiting(t.redis, t.prefix, 'big')).toBe(0);
    expect(t.conductor.progress().counts).toEqual({ CANCELLED: n });
    expect(await waiting(t.redis, t.prefix, 'other')).toBe(20);
    expect((await jobKeys(t.redis, t.prefix, 'other')).length).toBe(20);
  }, 60_000);

  it('a study that ends removes its jobs that failed in the queue', async () => {
    const one = setup(2, { studyId: 'rejected' });
    // A worker that fails every job in the queue without reporting through the fence.
    const conn = new Redis(url, { maxRetriesPerRequest: null });
    const rejecter = new Worker(
      DEFAULT_QUEUE,
      async () => {
        await Promise.resolve();
        throw new UnrecoverableError('not a job this worker can run');
      },
      { connection: conn, prefix: one.prefix },
    );
    rejecter.on('error', () => undefined);
    closers.push(async () => {
      await rejecter.close();
      conn.disconnect();
    });
    const done = one.conductor.run();
    await vi.waitFor(async () => expect(await one.redis.zcard(`${one.prefix}:${DEFAULT_QUEUE}:failed`)).toBe(2), {
      timeout: 10_000,
    });
    one.conductor.stop();
    expect(await done).toBe('RUNNING');
    await rejecter.close();
    // The next conductor's reconciliation finds them failed in the queue: the study fails, and
    // ends without leaving them there.
    const two = setup(2, { studyId: 'rejected', prefix: one.prefix });
    expect(await two.conductor.run()).toBe('FAILURE');
    expect(await jobKeys(two.redis, two.prefix, 'rejected')).toEqual([]);
    expect(await two.redis.zcard(`${two.prefix}:${DEFAULT_QUEUE}:failed`)).toBe(0);
  }, 30_000);
});
