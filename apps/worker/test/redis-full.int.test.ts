/**
 * A Redis with no room for another client (maxclients reached): the worker must say so, and what
 * to do, instead of retrying a dropped connection forever. A real redis-server with
 * `--maxclients 1`, its one slot taken.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../../../test/helpers/redis-server.js';
import { refusedForMaxClients } from '../src/redis-full.js';
import { checkRedisAccess } from '../src/redis.js';
import { assertWorkerBuilt, spawnWorker, Tracker } from './helpers.js';

const tracker = new Tracker();
afterEach(() => tracker.closeAll());
beforeAll(() => assertWorkerBuilt());

/** A redis-server whose only client slot is taken by a connection of ours. */
async function fullRedis(): Promise<string> {
  const server = tracker.track(await startRedisServer({ args: ['--maxclients', '1'] }), (s) => s.stop());
  const holder = tracker.track(new Redis(server.url), (r) => r.disconnect());
  await holder.ping();
  return server.url;
}

const ADVICE =
  /max number of clients reached \(its maxclients\)\. Each maestro-worker holds 3 connections.*CONFIG SET maxclients.*ulimit -n/;

describe('a Redis at maxclients', () => {
  it('is told apart from a Redis that is merely slow to answer', async () => {
    const url = await fullRedis();
    expect(await refusedForMaxClients({ redisUrl: url })).toBe(true);
    const roomy = tracker.track(await startRedisServer(), (s) => s.stop());
    expect(await refusedForMaxClients({ redisUrl: roomy.url })).toBe(false);
  });

  it('fails the access check with what to do', async () => {
    const url = await fullRedis();
    await expect(checkRedisAccess({ redisUrl: url, name: 'w-full' })).rejects.toThrow(ADVICE);
  });

  it('makes maestro-worker exit 2 with the advice on stderr', async () => {
    const url = await fullRedis();
    const worker = spawnWorker(tracker, ['--redis', url, '--simulate']);
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toMatch(ADVICE);
    expect(worker.stderr()).toContain('Redis at redis://127.0.0.1:');
  });
});
