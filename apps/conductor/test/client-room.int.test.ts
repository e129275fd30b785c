/**
 * Room for a fleet's connections: a real redis-server with a low maxclients, asked as the
 * conductor asks it before starting workers; the message says what to raise and to what.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedisServer, type RedisServer } from '../../../test/helpers/redis-server.js';
import { clientRoom, connectRedis, fleetRoomProblem, openFileLimit, type Redis } from '../src/redis/index.js';

const opened: { redis: Redis[]; servers: RedisServer[] } = { redis: [], servers: [] };
afterEach(async () => {
  for (const r of opened.redis.splice(0)) r.disconnect();
  for (const s of opened.servers.splice(0)) await s.stop();
});

async function serverWith(maxclients: number): Promise<Redis> {
  const server = await startRedisServer({ args: ['--maxclients', String(maxclients)] });
  opened.servers.push(server);
  const redis = await connectRedis({ url: server.url }, 'command');
  opened.redis.push(redis);
  return redis;
}

describe('room for a fleet', () => {
  it('reads maxclients and the connected clients from the server', async () => {
    const redis = await serverWith(20);
    expect(await clientRoom(redis)).toEqual({ maxclients: 20, connected: 1 });
  });

  it('says when the workers will not fit, and what to raise to what', async () => {
    const room = (await clientRoom(await serverWith(20)))!;
    expect(fleetRoomProblem(room, 6, 'Redis at redis://h:1', undefined)).toBeUndefined();
    expect(fleetRoomProblem(room, 7, 'Redis at redis://h:1', undefined)).toBe(
      'Redis at redis://h:1 has room for 19 more clients (maxclients 20, 1 connected), but 7 workers need ' +
        'about 21 (3 each): raise it on the server (`redis-cli CONFIG SET maxclients 22`, and start ' +
        'redis-server with ulimit -n of at least 54), or start fewer workers',
    );
  });

  it("blames the conductor's open-file limit for its own Redis", async () => {
    const room = (await clientRoom(await serverWith(20)))!;
    expect(fleetRoomProblem(room, 100, "the study's Redis", { fdLimit: 1024 })).toMatch(
      /inherits this conductor's open-file limit \(ulimit -n 1024\): raise it to at least 333 \(ulimit -n\)/,
    );
  });

  it('reads the open-file limit from /proc/self/limits', () => {
    const file = path.join(os.tmpdir(), `limits-${process.pid}`);
    writeFileSync(
      file,
      'Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 4096                 files\n',
    );
    expect(openFileLimit(file)).toBe(1024);
    expect(openFileLimit('/nonexistent/limits')).toBeUndefined();
  });
});
