/**
 * The study's streams are trimmed to the committed cursor whatever their length: an approximate
 * XTRIM removes at most 10,000 entries per call unless told otherwise, and a study that reported
 * faster than that between trims kept its whole stream (155 bytes of Redis per instance).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { eventsKey } from '@maestro/protocol';
import { StudyStore } from '../src/redis/study-store.js';

const url = inject('redisUrl');
const clients: Redis[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

it('trims every entry up to the cursor, even tens of thousands', async () => {
  const redis = new Redis(url);
  clients.push(redis);
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const store = new StudyStore(redis, redis, prefix, 'study-1');
  const key = eventsKey(prefix, 'study-1');
  let last = '';
  for (let k = 0; k < 30_000; k += 1000) {
    const p = redis.pipeline();
    for (let j = 0; j < 1000; j++) p.xadd(key, '*', 'e', String(k + j));
    const replies = await p.exec();
    last = String(replies!.at(-1)![1]);
  }
  await store.trim(last, '0');
  // `~` keeps the macro node that holds the cursor: at most 100 entries.
  expect(await redis.xlen(key)).toBeLessThanOrEqual(100);
  await redis.del(key);
});
