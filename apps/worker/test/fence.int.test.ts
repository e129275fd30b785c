/**
 * The claim checks and extends the job's lock in the same script (queue/fence.ts, CLAIM_RUN in
 * libs/protocol): a worker whose lock is gone claims nothing, one that holds it claims and keeps
 * the lock longer, out of the stalled set. A claim of an attempt older than the one the
 * conductor's state record names is refused, though the fence lost the newer entry.
 */
import { Redis } from 'ioredis';
import {
  fenceKey,
  readStateRecord,
  STATE_RECORD_BYTES,
  stateKey,
  StepState,
  writeStateRecord,
} from '@maestro/protocol';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { makeFence } from '../src/queue/fence.js';
import { makeStudy, Tracker } from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());

const started = (index: number) => ({
  type: 'started' as const,
  index,
  attempt: 1,
  worker: 'w',
  host: 'h',
  pid: 0,
  startMs: Date.now(),
});

/** A study, a fence on it, and the lock this worker would hold on job `jobId` (token `mine`). */
async function setup(jobId: string) {
  const study = await makeStudy(redisUrl, tracker);
  const redis = tracker.track(new Redis(redisUrl), (r) => r.quit());
  const fence = makeFence(redis, study.prefix, 3);
  const lock = {
    key: `${study.prefix}:q:${jobId}:lock`,
    stalledKey: `${study.prefix}:q:stalled`,
    jobId,
    token: 'mine',
    durationMs: 60_000,
  };
  return { study, redis, fence, lock };
}

describe('claiming a run under a lock', () => {
  it('refuses the claim, writing nothing, when the lock holds another token', async () => {
    const { study, redis, fence, lock } = await setup('j0');
    await redis.set(lock.key, 'the-new-owner', 'PX', 30_000);
    const ref = { studyId: study.studyId, index: 0, attempt: 1 };

    const refused = await fence.claim(ref, started(0), lock, 'now');
    expect(refused).toEqual({ claimed: false, reason: 'lock' });
    expect(await study.events()).toEqual([]);
    expect(await redis.get(lock.key)).toBe('the-new-owner');

    // A lock that expired altogether is not this worker's either.
    await redis.del(lock.key);
    expect(await fence.claim(ref, started(0), lock, 'now')).toEqual({
      claimed: false,
      reason: 'lock',
    });
  });

  it('claims under its own lock, extends it and takes the job out of the stalled set', async () => {
    const { study, redis, fence, lock } = await setup('j1');
    await redis.set(lock.key, 'mine', 'PX', 1_000);
    await redis.sadd(lock.stalledKey, 'j1', 'other');

    const claim = await fence.claim({ studyId: study.studyId, index: 1, attempt: 1 }, started(1), lock, 'now');
    expect(claim).toEqual({ claimed: true, run: 1 });
    expect(await redis.pttl(lock.key)).toBeGreaterThan(30_000);
    expect((await redis.smembers(lock.stalledKey)).sort()).toEqual(['other']);
    expect((await study.events()).map((e) => `${e.type}:${e.index}:${e.run}`)).toEqual(['started:1:1']);
  });
});

describe('announcing a start later', () => {
  it('writes the started event of a quiet claim only while that run is in flight', async () => {
    const { study, fence } = await setup('j2');
    const ref = { studyId: study.studyId, index: 2, attempt: 1 };
    const events = async () => (await study.events()).map((e) => `${e.type}:${e.index}:${e.run}`);

    expect(await fence.claim(ref, started(2), undefined, 'later')).toEqual({ claimed: true, run: 1 });
    expect(await events()).toEqual([]);
    expect(await fence.announce(ref, { ...started(2), run: 1 })).toBe(true);
    expect(await events()).toEqual(['started:2:1']);

    // A timer late for a run that was replaced (re-delivered: run 2) or has reported writes nothing.
    expect(await fence.claim(ref, started(2), undefined, 'later')).toEqual({ claimed: true, run: 2 });
    expect(await fence.announce(ref, { ...started(2), run: 1 })).toBe(false);
    const result = { ...started(2), type: 'result' as const, run: 2, outcome: 'succeeded' as const };
    expect(await fence.report(ref, { ...result, exitCode: 0, signal: null, endMs: Date.now() })).toBe(true);
    expect(await fence.announce(ref, { ...started(2), run: 2 })).toBe(false);
    expect(await events()).toEqual(['started:2:1', 'result:2:2']);
  });
});

describe('after a failover lost the fence entry of a newer attempt', () => {
  it("refuses an older attempt's claim as stale when the conductor's state record names a newer one", async () => {
    const { study, redis, fence } = await setup('j3');
    const ref = { studyId: study.studyId, index: 3, attempt: 1 };
    // The conductor sent attempt 2 and wrote its state again after the failover; the fence (the
    // workers' writes) no longer has attempt 2's entry, and the old attempt-1 job came back.
    const state = Buffer.alloc(STATE_RECORD_BYTES * 8);
    writeStateRecord(state, 3, { ...readStateRecord(state, 3), state: StepState.PENDING, attempt: 2, bundle: 3 });
    await redis.set(stateKey(study.prefix, study.studyId), state);

    expect(await fence.claim(ref, started(3), undefined, 'now')).toEqual({ claimed: false, reason: 'stale' });
    expect(await redis.hget(fenceKey(study.prefix, study.studyId), '3')).toBeNull();
    expect(await study.events()).toEqual([]);
    // The conductor's own attempt, and a newer one it has not written yet (sent before its
    // commit), are claimed.
    expect(await fence.claim({ ...ref, attempt: 2 }, { ...started(3), attempt: 2 }, undefined, 'now')).toEqual({
      claimed: true,
      run: 1,
    });
    expect(await fence.claim({ ...ref, attempt: 3 }, { ...started(3), attempt: 3 }, undefined, 'now')).toEqual({
      claimed: true,
      run: 1,
    });
  });
});
