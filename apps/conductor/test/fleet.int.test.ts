/**
 * The conductor's fleet watch against a real Redis: a queued step no live worker can run is
 * reported (a warning and the study record's `blocked` field) once it has waited a whole round,
 * and the fleet is read only then: a step waiting a moment (a chain's link between its parent's
 * end and its start) costs no Redis read.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_QUEUE, StepState, studyKey, workerKey, workersKey } from '@maestro/protocol';
import { expandStudy, parseStudy } from '@maestro/spec';
import { Fleet } from '../src/fleet/fleet.js';
import { FleetStore } from '../src/redis/fleet-store.js';
import { testConductor } from './helpers/test-conductor.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** The real store, counting its reads of the live workers. */
class CountingFleetStore extends FleetStore {
  reads = 0;
  override liveWorkers(nowMs: number) {
    this.reads++;
    return super.liveWorkers(nowMs);
  }
}

describe('fleet watch', () => {
  it('reports a step too large for every live worker once it waited a round, reading the fleet only then', async () => {
    const { study } = parseStudy(
      'description: {name: t, description: test}\nstudy:\n  - {name: big, description: d, run: {cmd: "true", procs: 8}}\n',
    );
    const x = expandStudy(study, { root: '/tmp/maestro-int', specRoot: '/tmp', cwd: '/tmp' });
    const lines: string[] = [];
    const log = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const { conductor, prefix, studyId, redis, close } = testConductor(url, x, { window: 100, log });
    closers.push(close);
    // A live worker of a two-core Slurm allocation serving the queue, as its heartbeat writes it;
    // it runs nothing. (A local worker fits any step: it shares out the cores it has.)
    const now = Date.now();
    await redis
      .multi()
      .hset(workerKey(prefix, 'w1'), {
        name: 'w1',
        host: 'h',
        pid: '1',
        queues: DEFAULT_QUEUE,
        slots: '2',
        cores: '2',
        running: '0',
        done: '0',
        startedAt: String(now),
        lastSeen: String(now),
        scheduler: 'slurm',
        allocationId: '42',
        state: 'running',
      })
      .zadd(workersKey(prefix), now, 'w1')
      .exec();

    const running = conductor.run();
    closers.push(async () => {
      conductor.stop();
      await running;
    });
    await vi.waitFor(() => expect(conductor.records.state(0)).toBe(StepState.PENDING));
    const store = new CountingFleetStore(redis, prefix);
    const fleet = new Fleet({ conductor, store, log, studyId, tickMs: 3_600_000 });
    await fleet.start();
    closers.push(() => fleet.close());

    await fleet.tick(); // first seen waiting: not blocked yet, and no read of the fleet
    expect(store.reads).toBe(0);
    expect(lines).toEqual([]);
    await fleet.tick();
    expect(store.reads).toBe(1);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; step: string })).toEqual([
      expect.objectContaining({
        step: 'big',
        msg: expect.stringContaining('step big cannot run on any live worker: too large'),
      }),
    ]);
    await vi.waitFor(async () => {
      const blocked = JSON.parse((await redis.hget(studyKey(prefix, studyId), 'blocked')) ?? '[]') as unknown;
      expect(blocked).toEqual([{ step: 'big', reason: expect.stringContaining('too large'), instances: 1 }]);
    }, 5000); // with the conductor's next commit
  });
});
