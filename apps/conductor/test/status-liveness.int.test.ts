/**
 * The conductor's signs of life, on a real Redis: status.json rewritten while nothing changes,
 * each lease renewal noted in the study hash, `stoppedAt` when it stops; and what `status`
 * judges from them while it runs and after.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, expect, inject, it, vi } from 'vitest';
import { studyKey } from '@maestro/protocol';
import { expandStudy, parseStudy } from '@maestro/spec';
import { readConductorLease } from '../src/redis/conductor-lease.js';
import { StudyStore } from '../src/redis/study-store.js';
import { HEARTBEAT_MS, StatusFiles, type StatusJson } from '../src/status/files.js';
import { judgeConductor } from '../src/status/liveness.js';
import { testConductor } from './helpers/test-conductor.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const readJson = (root: string): StatusJson =>
  JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as StatusJson;

it(
  'beats while nothing changes, notes lease renewals in Redis, and says when it stopped',
  { timeout: 60_000 },
  async () => {
    const { study } = parseStudy(
      'description: {name: t, description: test}\nstudy:\n  - {name: s, description: d, run: {cmd: "true"}}\n',
    );
    const root = mkdtempSync(path.join(tmpdir(), 'maestro-liveness-'));
    mkdirSync(path.join(root, 'meta'));
    const x = expandStudy(study, { root, specRoot: root, cwd: root });
    // No worker: the instance waits in its queue and nothing changes while the conductor lives.
    const { conductor, prefix, studyId, redis, close } = testConductor(url, x);
    closers.push(close);
    const files = new StatusFiles(root, studyId);
    const done = conductor.run();
    await vi.waitFor(() => expect(conductor.progress().counts['PENDING']).toBe(1), { timeout: 10_000 });
    files.changed(conductor);
    await vi.waitFor(() => expect(readJson(root).conductor).toBeDefined(), { timeout: 10_000 });
    const first = readJson(root);
    expect(first.conductor).toMatchObject({ host: hostname(), pid: process.pid, heartbeatMs: HEARTBEAT_MS });
    expect(first.conductor?.stoppedAt).toBeUndefined();

    // A heartbeat without any change: the same counts, a later time.
    await vi.waitFor(() => expect(readJson(root).conductor!.heartbeatAt).not.toBe(first.conductor!.heartbeatAt), {
      timeout: 3 * HEARTBEAT_MS,
      interval: 200,
    });
    expect(readJson(root).counts).toEqual(first.counts);

    // The lease is renewed every third of its time to live (3 s here), and noted in the hash.
    const lease = await readConductorLease(redis, prefix, studyId);
    expect(lease.holder).toMatch(new RegExp(`^${hostname()}:${process.pid}:`));
    expect(lease.conductor).toBe(`${hostname()}:${process.pid}`);
    expect(Date.now() - lease.heartbeatMs!).toBeLessThan(5_000);
    expect(judgeConductor({ now: Date.now(), heartbeat: readJson(root).conductor, lease })).toMatchObject({
      state: 'running',
      evidence: 'lease',
    });

    conductor.stop();
    expect(await done).toBe('RUNNING');
    await files.flush(conductor);
    const last = readJson(root);
    expect(last.state).toBe('RUNNING');
    expect(last.conductor?.stoppedAt).toBeDefined();
    const after = await readConductorLease(redis, prefix, studyId);
    expect(after.holder).toBeNull();
    expect(judgeConductor({ now: Date.now(), heartbeat: last.conductor, lease: after })).toMatchObject({
      state: 'gone',
      evidence: 'stopped',
    });
    expect(judgeConductor({ now: Date.now(), heartbeat: undefined, lease: after })).toMatchObject({
      state: 'gone',
      evidence: 'lease',
    });
  },
);

it('a renewal does not bring back a study hash that Redis lost', async () => {
  const redis = new Redis(url);
  closers.push(() => redis.disconnect());
  const prefix = `t${Date.now().toString(36)}`;
  const store = new StudyStore(redis, redis, prefix, 'lost');
  expect(await store.renewLease(3000)).toBe(true);
  expect(await redis.exists(studyKey(prefix, 'lost'))).toBe(0);
  expect(await store.exists()).toBe(false);
});
