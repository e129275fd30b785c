/**
 * The conductor's semantics against a real Redis and BullMQ, with a scripted worker deciding
 * each run's outcome: failure propagation, retries, timeouts and restarts, throttle, cancel,
 * update, resume after a crash, and jobs lost with Redis data.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  CLAIM_RUN_LUA,
  DEFAULT_QUEUE,
  eventsKey,
  fenceKey,
  STATE_RECORD_BYTES,
  StepJob,
  CONTROL_FIELD,
  controlKey,
  readStateRecord,
  stateKey,
  StepState,
  stepStateName,
  studyKey,
  type ControlRequest,
} from '@maestro/protocol';
import { expandStudy, parseStudy, type ExpandedStudy } from '@maestro/spec';
import type { BundlePolicy, Conductor, ConductorLimits } from '../src/conductor/conductor.js';
import { ScriptedWorker, type Behaviour } from './helpers/scripted-worker.js';
import { testConductor, type TestConductorOptions } from './helpers/test-conductor.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function expand(yaml: string): ExpandedStudy {
  const { study } = parseStudy(`description: {name: t, description: test}\n${yaml}`);
  return expandStudy(study, { root: '/tmp/maestro-int', specRoot: '/tmp', cwd: '/tmp' });
}

/** A short wait for jobs found missing (LOST_GRACE_MS is 15 s); one test checks why it waits at all. */
const GRACE_MS = 300;

function setup(
  x: ExpandedStudy,
  limits: Partial<ConductorLimits> = {},
  opts: Omit<TestConductorOptions, 'limits'> = {},
) {
  const t = testConductor(url, x, { ...opts, limits });
  closers.push(t.close);
  return t;
}

/** Instance `index` as the last commit wrote it to Redis; undefined before the first. */
async function committedRecord(redis: Redis, prefix: string, studyId: string, index: number) {
  const buf = await redis.getBuffer(stateKey(prefix, studyId));
  return buf && buf.length > 0 ? readStateRecord(buf, index) : undefined;
}

function worker(prefix: string, behaviour: Behaviour, concurrency = 8, handBackDelayMs = 0): ScriptedWorker {
  const w = new ScriptedWorker(url, prefix, behaviour, { concurrency, handBackDelayMs });
  closers.push(() => w.close());
  return w;
}

function states(c: Conductor): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < c.expanded.instanceCount; i++)
    out[c.expanded.instanceName(i)] = stepStateName(c.records.state(i));
  return out;
}

const diamond = `study:
  - {name: a, description: d, run: {cmd: "a"}}
  - {name: b, description: d, run: {cmd: "b", depends: [a]}}
  - {name: c, description: d, run: {cmd: "c", depends: [a]}}
  - {name: d, description: d, run: {cmd: "d", depends: [b, c]}}
  - {name: other, description: d, run: {cmd: "other"}}
`;

describe('conductor', () => {
  it('runs a DAG: children only after their parents, each instance once', async () => {
    const x = expand(diamond);
    const { conductor, prefix, redis, studyId } = setup(x);
    const order: string[] = [];
    const w = worker(prefix, (job) => {
      order.push(job.name);
      return { outcome: 'succeeded' };
    });
    expect(await conductor.run()).toBe('FINISHED');
    expect(Object.values(states(conductor))).toEqual(Array(5).fill('FINISHED'));
    // The study record's counts are the final ones, whatever commit the last results came with.
    expect(JSON.parse((await redis.hget(studyKey(prefix, studyId), 'counts')) ?? '{}')).toEqual({ FINISHED: 5 });
    expect(w.runs).toHaveLength(5);
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'));
    expect(order.indexOf('b')).toBeLessThan(order.indexOf('d'));
    expect(order.indexOf('c')).toBeLessThan(order.indexOf('d'));
  });

  it('fails the subtree of a failed step and lets independent branches finish (FAILURE)', async () => {
    const x = expand(diamond);
    const { conductor, prefix } = setup(x);
    worker(prefix, (job) => ({
      outcome: job.name === 'b' ? 'failed' : 'succeeded',
      exitCode: job.name === 'b' ? 3 : 0,
    }));
    expect(await conductor.run()).toBe('FAILURE');
    expect(states(conductor)).toEqual({ a: 'FINISHED', b: 'FAILED', c: 'FINISHED', d: 'FAILED', other: 'FINISHED' });
    expect(conductor.records.record(x.steps.findIndex((s) => s.name === 'b')).exitCode).toBe(3);
  });

  it('retries a failing step up to --attempts, as new attempts', async () => {
    const x = expand(`study:\n  - {name: flaky, description: d, run: {cmd: "x"}}\n`);
    const { conductor, prefix } = setup(x, { attempts: 3 });
    const w = worker(prefix, (job) => ({ outcome: job.attempt < 3 ? 'failed' : 'succeeded' }));
    expect(await conductor.run()).toBe('FINISHED');
    expect(w.runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(conductor.records.record(0)).toMatchObject({ tries: 2, attempt: 3, state: StepState.FINISHED });
  });

  it('gives up after --attempts', async () => {
    const x = expand(`study:\n  - {name: bad, description: d, run: {cmd: "x"}}\n`);
    const { conductor, prefix } = setup(x, { attempts: 2 });
    const w = worker(prefix, () => ({ outcome: 'failed' }));
    expect(await conductor.run()).toBe('FAILURE');
    expect(w.runs).toHaveLength(2);
  });

  it('runs the restart command after a timeout, up to --rlimit, then FAILED; without restart TIMEDOUT', async () => {
    const x = expand(`study:
  - {name: sim, description: d, run: {cmd: "sim", restart: "resume-sim", walltime: "00:00:01"}}
  - {name: child, description: d, run: {cmd: "c", depends: [sim]}}
  - {name: norestart, description: d, run: {cmd: "n", walltime: "1"}}
`);
    const { conductor, prefix } = setup(x, { rlimit: 2 });
    const w = worker(prefix, (job) => ({ outcome: job.name === 'child' ? 'succeeded' : 'timedout' }));
    expect(await conductor.run()).toBe('FAILURE');
    expect(w.runs.filter((r) => r.name === 'sim').map((r) => r.kind)).toEqual(['cmd', 'restart', 'restart']);
    expect(states(conductor)).toEqual({ sim: 'FAILED', child: 'FAILED', norestart: 'TIMEDOUT' });
    expect(conductor.records.record(0).restarts).toBe(2);
  });

  it('a restart that finishes lets the study finish', async () => {
    const x = expand(`study:\n  - {name: sim, description: d, run: {cmd: "sim", restart: "again", walltime: "5"}}\n`);
    const { conductor, prefix } = setup(x);
    worker(prefix, (job) => ({ outcome: job.kind === 'cmd' ? 'timedout' : 'succeeded' }));
    expect(await conductor.run()).toBe('FINISHED');
  });

  it('never has more steps in flight than --throttle', async () => {
    const x = expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: 30 }, (_, k) => k).join(',')}], label: P.%%}\n`,
    );
    const { conductor, prefix } = setup(x, { throttle: 3 });
    const w = worker(prefix, () => ({ outcome: 'succeeded', delayMs: 20 }), 16);
    expect(await conductor.run()).toBe('FINISHED');
    expect(w.runs).toHaveLength(30);
    expect(w.maxRunning).toBeLessThanOrEqual(3);
    expect(w.maxRunning).toBe(3);
  });

  it('keeps no more than --window jobs queued', async () => {
    const x = expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: 50 }, (_, k) => k).join(',')}], label: P.%%}\n`,
    );
    const { conductor, prefix } = setup(x, {}, { window: 5 });
    const probe = new Redis(url);
    closers.push(() => probe.disconnect());
    let maxWaiting = 0;
    const w = worker(
      prefix,
      async () => {
        maxWaiting = Math.max(maxWaiting, await probe.llen(`${prefix}:steps:wait`));
        return { outcome: 'succeeded' };
      },
      1,
    );
    expect(await conductor.run()).toBe('FINISHED');
    expect(w.runs).toHaveLength(50);
    expect(maxWaiting).toBeLessThanOrEqual(5);
  });

  it('cancel stops everything: queued and waiting CANCELLED, running ones killed, exit state CANCELLED', async () => {
    const x = expand(`study:
  - {name: slow, description: d, run: {cmd: "$(P)"}}
  - {name: after, description: d, run: {cmd: "x", depends: [slow_*]}}
global.parameters:
  P: {values: [1, 2, 3, 4, 5, 6], label: P.%%}
`);
    const { conductor, prefix, studyId, redis } = setup(x, { throttle: 2 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let sent = false;
    worker(prefix, async () => {
      if (!sent) {
        sent = true;
        const req: ControlRequest = { type: 'cancel' };
        await redis.xadd(controlKey(prefix, studyId), '*', CONTROL_FIELD, JSON.stringify(req));
        setTimeout(release, 200);
      }
      await gate;
      return { outcome: 'cancelled' };
    });
    expect(await conductor.run()).toBe('CANCELLED');
    expect(new Set(Object.values(states(conductor)))).toEqual(new Set(['CANCELLED']));
  });

  it('update changes the throttle of a running study', async () => {
    const x = expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: 20 }, (_, k) => k).join(',')}], label: P.%%}\n`,
    );
    const { conductor, prefix, studyId, redis } = setup(x, { throttle: 1 });
    let n = 0;
    const w = worker(
      prefix,
      async () => {
        if (++n === 2) {
          const req: ControlRequest = { type: 'update', throttle: 4 };
          await redis.xadd(controlKey(prefix, studyId), '*', CONTROL_FIELD, JSON.stringify(req));
        }
        return { outcome: 'succeeded', delayMs: 30 };
      },
      8,
    );
    expect(await conductor.run()).toBe('FINISHED');
    expect(conductor.limits.throttle).toBe(4);
    expect(w.maxRunning).toBe(4);
  });

  it('quarantines a host that fails everything, runs its instances elsewhere uncounted, and release ends it', async () => {
    const x = expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: 40 }, (_, k) => k).join(',')}], label: P.%%}\n`,
    );
    const { conductor, prefix, studyId, redis } = setup(x, { attempts: 1 });
    let fixed = false; // the bad node, mended by hand, then released
    const good = new ScriptedWorker(url, prefix, () => ({ outcome: 'succeeded', delayMs: 40 }), {
      concurrency: 1,
      host: 'good',
    });
    closers.push(() => good.close());
    const running = conductor.run();
    // The fleet has a norm (a success applied) before the bad host starts failing.
    await vi_waitFor(async () => Object.values(states(conductor)).includes('FINISHED'));
    const bad = new ScriptedWorker(
      url,
      prefix,
      () => (fixed ? { outcome: 'succeeded' } : { outcome: 'failed', exitCode: 127 }),
      {
        concurrency: 1,
        host: 'bad',
      },
    );
    closers.push(() => bad.close());
    await vi_waitFor(async () => conductor.quarantinedHosts().length > 0);
    const [q] = conductor.quarantinedHosts();
    expect(q).toMatchObject({ host: 'bad', failuresElsewhere: 0 });
    expect(q!.failures).toBeLessThanOrEqual(10);
    fixed = true;
    const req: ControlRequest = { type: 'release', host: 'bad' };
    await redis.xadd(controlKey(prefix, studyId), '*', CONTROL_FIELD, JSON.stringify(req));
    await vi_waitFor(async () => conductor.quarantinedHosts().length === 0);
    // -a 1: one failure counted would have ended an instance FAILED.
    expect(await running).toBe('FINISHED');
    expect(bad.runs.length).toBeGreaterThanOrEqual(q!.failures);
  }, 30_000);

  it('a second conductor on the same study is refused while the first runs', async () => {
    const x = expand(diamond);
    const first = setup(x, {}, { studyId: 'shared' });
    const second = setup(x, {}, { studyId: 'shared', prefix: first.prefix });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const w = worker(first.prefix, async () => {
      await gate;
      return { outcome: 'succeeded' };
    });
    const running = first.conductor.run();
    await vi_waitFor(async () => w.runs.length > 0); // the first conductor holds the lease
    await expect(second.conductor.run()).rejects.toThrow(/another conductor .* is driving this study/);
    release();
    expect(await running).toBe('FINISHED');
  }, 30_000);

  it('writes a step RUNNING while it runs, though no other event follows its start for a while', async () => {
    const x = expand(`study:\n  - {name: slow, description: d, run: {cmd: "x"}}\n`);
    const { conductor, prefix, studyId, redis } = setup(x);
    let ended = false;
    worker(prefix, async () => {
      await new Promise((r) => setTimeout(r, 2000));
      ended = true;
      return { outcome: 'succeeded' };
    });
    const running = conductor.run();
    // Its start alone is committed late (with the next commit, or within 250 ms), never lost.
    await vi.waitFor(
      async () => expect((await committedRecord(redis, prefix, studyId, 0))?.state).toBe(StepState.RUNNING),
      { timeout: 1500, interval: 25 },
    );
    expect(ended).toBe(false);
    expect(await running).toBe('FINISHED');
  });

  it('writes a finished step that unlocks nothing within a moment, while another runs on', async () => {
    const x = expand(`study:
  - {name: quick, description: d, run: {cmd: "x"}}
  - {name: slow, description: d, run: {cmd: "x"}}
`);
    expect(x.instanceName(0)).toBe('quick');
    const { conductor, prefix, studyId, redis } = setup(x);
    let slowEnded = false;
    worker(prefix, async (job) => {
      if (job.name === 'slow') {
        await new Promise((r) => setTimeout(r, 2000));
        slowEnded = true;
      }
      return { outcome: 'succeeded' };
    });
    const running = conductor.run();
    // Its result enqueues nothing: the commit waits for company, 250 ms at most, never lost.
    await vi.waitFor(
      async () => expect((await committedRecord(redis, prefix, studyId, 0))?.state).toBe(StepState.FINISHED),
      { timeout: 1500, interval: 25 },
    );
    expect(slowEnded).toBe(false);
    expect(await running).toBe('FINISHED');
  });

  it('resumes after a crash: finished steps are not run again, the rest continue', async () => {
    const x = expand(`study:
  - {name: first, description: d, run: {cmd: "$(P)"}}
  - {name: second, description: d, run: {cmd: "x", depends: [first]}}
global.parameters:
  P: {values: [1, 2, 3, 4], label: P.%%}
`);
    const one = setup(x, {}, { studyId: 'resumed' });
    let stopAfter = 3;
    const w1 = worker(
      one.prefix,
      (job) => {
        if (--stopAfter === 0) one.conductor.stop();
        return { outcome: 'succeeded', delayMs: job.name.startsWith('first') ? 0 : 50 };
      },
      1,
    );
    expect(await one.conductor.run()).toBe('RUNNING'); // stopped, as a crash would leave it
    await w1.close();
    const finishedBefore = Object.entries(states(one.conductor))
      .filter(([, s]) => s === 'FINISHED')
      .map(([n]) => n);
    expect(finishedBefore.length).toBeGreaterThan(0);
    // The lease of the stopped conductor was released; a crashed one would expire.
    const two = setup(x, {}, { studyId: 'resumed', prefix: one.prefix });
    const w2 = worker(one.prefix, () => ({ outcome: 'succeeded' }));
    expect(await two.conductor.run()).toBe('FINISHED');
    const rerun = w2.runs.map((r) => r.name).filter((n) => finishedBefore.includes(n));
    expect(rerun).toEqual([]);
    expect(Object.values(states(two.conductor))).toEqual(Array(8).fill('FINISHED'));
  });

  it('after a crash between enqueuing a link of a chain and committing it, takes the link that ran as its own', async () => {
    const x = expand(`study:
  - {name: a, description: d, run: {cmd: "x"}}
  - {name: b, description: d, run: {cmd: "x", depends: [a]}}
  - {name: c, description: d, run: {cmd: "x", depends: [b]}}
`);
    const one = setup(x, {}, { studyId: 'chain-crash' });
    const observer = new Redis(url);
    closers.push(() => void observer.disconnect());
    let bCommitted: number | undefined;
    const w = worker(one.prefix, async (job) => {
      if (job.name === 'b') {
        // The conductor dies now: b is enqueued (it runs), its commit is still put off.
        one.redis.disconnect();
        bCommitted = (await committedRecord(observer, one.prefix, 'chain-crash', 1))?.attempt;
      }
      return { outcome: 'succeeded' };
    });
    await expect(one.conductor.run()).rejects.toThrow();
    expect(bCommitted).toBe(0); // the case under test: b's attempt 1 was never written

    // The dead conductor's lease expires (3 s); the next one replays a's result, enqueues b's
    // attempt 1 again (a no-op: that job ran and is gone, its claim would be refused as done),
    // and counts the result b's run reported.
    const two = setup(x, {}, { studyId: 'chain-crash', prefix: one.prefix });
    expect(await two.conductor.run()).toBe('FINISHED');
    expect(w.runs.map((r) => `${r.name}:${r.attempt}:${r.run}`)).toEqual(['a:1:1', 'b:1:1', 'c:1:1']);
    expect(states(two.conductor)).toEqual({ a: 'FINISHED', b: 'FINISHED', c: 'FINISHED' });
  }, 30_000);

  it('finds queued steps that Redis lost and runs them again', async () => {
    const x = expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [1, 2, 3], label: P.%%}\n`,
    );
    const one = setup(x, {}, { studyId: 'lost' });
    // No worker: the jobs sit in the queue. Stop the conductor once they are queued.
    const done = one.conductor.run();
    await vi_waitFor(async () => (await one.redis.llen(`${one.prefix}:steps:wait`)) === 3);
    one.conductor.stop();
    expect(await done).toBe('RUNNING');
    // Redis "loses" the queue (as without an append-only file).
    await one.redis.del(`${one.prefix}:steps:wait`);
    for (const k of await one.redis.keys(`${one.prefix}:steps:lost.*`)) await one.redis.del(k);
    for (const k of await one.redis.keys(`${one.prefix}:steps:*`))
      if (/:lost\.\d+\.\d+$/.test(k)) await one.redis.del(k);
    const two = setup(x, {}, { studyId: 'lost', prefix: one.prefix, lostGraceMs: GRACE_MS });
    const w = worker(one.prefix, () => ({ outcome: 'succeeded' }));
    expect(await two.conductor.run()).toBe('FINISHED');
    expect(w.runs.map((r) => r.attempt)).toEqual([2, 2, 2]);
  });

  it('does not send again at once a job Redis lost while a worker runs it: the worker reports within the grace', async () => {
    const x = expand(`study:\n  - {name: s, description: d, run: {cmd: "s"}}\n`);
    const t = setup(x, {}, { studyId: 'vanished', lostGraceMs: 5_000 });
    let release = (): void => {};
    const held = new Promise<void>((r) => (release = r));
    const w = worker(t.prefix, async (job) => {
      if (job.attempt === 1) await held;
      return { outcome: 'succeeded' };
    });
    const done = t.conductor.run();
    await vi_waitFor(async () => w.running === 1);
    // A failover to a server that never had the job, while the worker that took it runs it.
    for (const k of await t.redis.keys(`${t.prefix}:steps:*`)) await t.redis.del(k);
    t.conductor.reconnected();
    await new Promise((r) => setTimeout(r, 1_500));
    release();
    expect(await done).toBe('FINISHED');
    expect(w.runs.map((r) => `${r.attempt}:${r.run}:${r.accepted}`)).toEqual(['1:1:true']);
  });

  it('runs again, uncounted, a step whose job BullMQ failed as stalled (its worker lost its lock too often)', async () => {
    const x = expand(`study:\n  - {name: s, description: d, run: {cmd: "s"}}\n`);
    const t = setup(x, {}, { studyId: 'stalled' }); // --attempts 1: one counted failure would end it FAILED
    // A worker whose event loop stalls past its lock: it claims its run through the fence, then never
    // renews the lock or returns. With maxStalledCount 0 BullMQ's stalled check gives up on the job at
    // once, and the worker's next fetch fails it as stalled (BullMQ's own text, checked below).
    const claimer = new Redis(url, { maxRetriesPerRequest: null });
    closers.push(() => claimer.disconnect());
    const claimed: string[] = [];
    const stalledOut: string[] = [];
    const stalling = new Worker(
      DEFAULT_QUEUE,
      async (job) => {
        const data = StepJob.parse(job.data);
        const { prefix, studyId, index, attempt } = data;
        const started = {
          type: 'started',
          index,
          attempt,
          worker: 'stalling@test',
          host: 'test',
          pid: 0,
          startMs: Date.now(),
        };
        const [ok] = (await claimer.eval(
          CLAIM_RUN_LUA,
          4,
          fenceKey(prefix, studyId),
          studyKey(prefix, studyId),
          eventsKey(prefix, studyId),
          stateKey(prefix, studyId),
          String(index),
          String(attempt),
          '5',
          JSON.stringify(started),
          String(STATE_RECORD_BYTES),
          '1',
        )) as [number, unknown];
        if (ok === 1) claimed.push(`${index}:${attempt}`);
        return new Promise<never>(() => {});
      },
      {
        connection: new Redis(url, { maxRetriesPerRequest: null }),
        prefix: t.prefix,
        concurrency: 2,
        skipLockRenewal: true,
        lockDuration: 200,
        stalledInterval: 200,
        maxStalledCount: 0,
      },
    );
    stalling.on('error', () => undefined);
    stalling.on('failed', (_job, err) => stalledOut.push(err.message));
    closers.push(() => stalling.close(true));
    const done = t.conductor.run();
    await vi_waitFor(async () => stalledOut.length > 0);
    expect(claimed).toEqual(['0:1']);
    expect(stalledOut).toEqual(['job stalled more than allowable limit']);
    await stalling.close(true);
    const w = worker(t.prefix, () => ({ outcome: 'succeeded' }));
    t.conductor.reconnected(); // the next turn of the loop reconciles
    expect(await done).toBe('FINISHED');
    expect(w.runs.map((r) => `${r.attempt}:${r.run}:${r.accepted}`)).toEqual(['2:1:true']);
    expect(t.conductor.records.record(0)).toMatchObject({ state: StepState.FINISHED, attempt: 2, tries: 0 });
  });
});

describe('bundles', () => {
  const sweep = (n: number): ExpandedStudy =>
    expand(
      `study:\n  - {name: s, description: d, run: {cmd: "$(P)"}}\nglobal.parameters:\n  P: {values: [${Array.from({ length: n }, (_, k) => k).join(',')}], label: P.%%}\n`,
    );
  const bundle: BundlePolicy = { maxSize: 8, targetMs: 200 };
  const indicesRun = (...workers: ScriptedWorker[]): number[] =>
    workers
      .flatMap((w) => w.runs)
      .filter((r) => r.accepted)
      .map((r) => r.index)
      .sort((a, b) => a - b);
  const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k);

  it('sends short instances in bundles once the first ones are timed; each instance runs once', async () => {
    const x = sweep(600);
    const { conductor, prefix } = setup(x, {}, { bundle });
    const w = worker(prefix, () => ({ outcome: 'succeeded' }), 1);
    expect(await conductor.run()).toBe('FINISHED');
    // The first 32 go alone (they time the step), the rest in bundles of up to 8, and the last
    // in smaller ones (at most a 32nd of what is left to send), down to one.
    expect(w.jobSizes.slice(0, 32)).toEqual(Array(32).fill(1));
    expect(Math.max(...w.jobSizes)).toBe(8);
    expect(w.jobSizes.at(-1)).toBe(1);
    expect(w.jobSizes.reduce((a, b) => a + b, 0)).toBe(600);
    expect(indicesRun(w)).toEqual(range(600));
    expect(new Set(Object.values(states(conductor)))).toEqual(new Set(['FINISHED']));
  });

  it('never bundles instances that take longer than the target, nor a throttled study', async () => {
    const slow = setup(sweep(40), {}, { bundle: { maxSize: 8, targetMs: 20 } });
    const w1 = worker(slow.prefix, () => ({ outcome: 'succeeded', delayMs: 30 }), 8);
    expect(await slow.conductor.run()).toBe('FINISHED');
    expect(w1.jobSizes).toEqual(Array(40).fill(1));

    const throttled = setup(sweep(60), { throttle: 4 }, { bundle });
    const w2 = worker(throttled.prefix, () => ({ outcome: 'succeeded' }), 8);
    expect(await throttled.conductor.run()).toBe('FINISHED');
    expect(w2.jobSizes).toEqual(Array(60).fill(1));
    expect(w2.maxRunning).toBeLessThanOrEqual(4);
  });

  it('resumes with bundles in flight: their jobs are found, nothing is sent twice or run twice', async () => {
    const x = sweep(120);
    const one = setup(x, {}, { studyId: 'bundled', bundle });
    let seen = 0;
    const w1 = worker(
      one.prefix,
      () => {
        if (++seen === 50) one.conductor.stop();
        return { outcome: 'succeeded', delayMs: seen > 50 ? 5 : 0 };
      },
      1,
    );
    expect(await one.conductor.run()).toBe('RUNNING');
    expect(one.conductor.progress().queued).toBeGreaterThan(16); // bundles still queued
    await w1.close(); // it finishes the bundle in hand: those results wait in the stream
    expect(Math.max(...w1.jobSizes)).toBeGreaterThan(1);
    const two = setup(x, {}, { studyId: 'bundled', prefix: one.prefix, bundle });
    const w2 = worker(one.prefix, () => ({ outcome: 'succeeded' }), 4);
    expect(await two.conductor.run()).toBe('FINISHED');
    expect(indicesRun(w1, w2)).toEqual(range(120));
    // Reconcile found every queued bundle: no instance was sent again as a new attempt.
    expect(new Set([...w1.runs, ...w2.runs].map((r) => r.attempt))).toEqual(new Set([1]));
  });

  it('runs the members of a bundle Redis lost again, as new attempts', async () => {
    const x = sweep(100);
    const one = setup(x, {}, { studyId: 'lostbundles', bundle });
    // A worker times the step on its first instances and leaves; the bundles then sit queued.
    const w1 = worker(one.prefix, () => ({ outcome: 'succeeded' }), 1);
    const done = one.conductor.run();
    await vi_waitFor(async () => w1.runs.length >= 8);
    await w1.close();
    await vi_waitFor(async () => one.conductor.progress().queued > 40);
    one.conductor.stop();
    expect(await done).toBe('RUNNING');
    const finishedBefore = new Set(indicesRun(w1));
    // Redis "loses" the queue and its jobs (as without an append-only file).
    for (const k of await one.redis.keys(`${one.prefix}:steps:*`)) await one.redis.del(k);
    const two = setup(x, {}, { studyId: 'lostbundles', prefix: one.prefix, bundle, lostGraceMs: GRACE_MS });
    const w2 = worker(one.prefix, () => ({ outcome: 'succeeded' }), 4);
    expect(await two.conductor.run()).toBe('FINISHED');
    expect(indicesRun(w1, w2)).toEqual(range(100));
    for (const r of w2.runs) {
      expect(finishedBefore.has(r.index)).toBe(false);
      expect(r.attempt).toBe(2);
    }
  });
});

describe('chains', () => {
  const bundle: BundlePolicy = { maxSize: 8, targetMs: 200 };
  /** Steps s0 -> s1 -> ... -> s<n-1>. */
  const line = (n: number): ExpandedStudy =>
    expand(
      `study:\n${Array.from({ length: n }, (_, k) => `  - {name: s${k}, description: d, run: {cmd: "c${k}"${k ? `, depends: [s${k - 1}]` : ''}}}`).join('\n')}\n`,
    );
  const names = (n: number, from = 0): string[] => Array.from({ length: n - from }, (_, k) => `s${from + k}`);

  it('sends a chain as one job, up to a step that waits for something else too', async () => {
    const x = expand(`study:
  - {name: a, description: d, run: {cmd: "a"}}
  - {name: b, description: d, run: {cmd: "b", depends: [a]}}
  - {name: c, description: d, run: {cmd: "c", depends: [b]}}
  - {name: x, description: d, run: {cmd: "x"}}
  - {name: d, description: d, run: {cmd: "d", depends: [c, x]}}
`);
    const { conductor, prefix } = setup(x, {}, { bundle });
    const order: string[] = [];
    const w = worker(prefix, (job) => {
      order.push(job.name);
      return { outcome: 'succeeded', delayMs: job.name === 'x' ? 100 : 0 };
    });
    expect(await conductor.run()).toBe('FINISHED');
    expect(w.chains).toEqual([['a', 'b', 'c']]);
    expect(w.jobSizes.sort()).toEqual([1, 1, 3]);
    expect(order.filter((n) => n !== 'x')).toEqual(['a', 'b', 'c', 'd']);
    expect(order.indexOf('x')).toBeLessThan(order.indexOf('d'));
    expect(Object.values(states(conductor))).toEqual(Array(5).fill('FINISHED'));
  });

  it('a link that fails with attempts left runs again, and the rest of the chain after it', async () => {
    const x = line(4);
    const { conductor, prefix } = setup(x, { attempts: 2 }, { bundle });
    // The worker hands s2 and s3 back a while after s1's failure: the conductor has sent s1
    // again by then, and must not send s2 before that second attempt finished.
    const w = worker(
      prefix,
      (job) => ({ outcome: job.name === 's1' && job.attempt === 1 ? 'failed' : 'succeeded', delayMs: 20 }),
      8,
      600,
    );
    expect(await conductor.run()).toBe('FINISHED');
    expect(w.handedBack).toEqual([2, 3]);
    expect(w.runs.map((r) => `${r.name}.${r.attempt}`)).toEqual(['s0.1', 's1.1', 's1.2', 's2.2', 's3.2']);
    for (let k = 1; k < w.runs.length; k++) expect(w.runs[k]!.startMs).toBeGreaterThanOrEqual(w.runs[k - 1]!.endMs!);
    expect(conductor.records.record(1)).toMatchObject({ tries: 1, attempt: 2 });
  });

  it('a link that fails for good fails the links after it, which never run', async () => {
    const x = line(4);
    const { conductor, prefix } = setup(x, {}, { bundle });
    const w = worker(prefix, (job) => ({ outcome: job.name === 's1' ? 'failed' : 'succeeded' }));
    expect(await conductor.run()).toBe('FAILURE');
    expect(states(conductor)).toEqual({ s0: 'FINISHED', s1: 'FAILED', s2: 'FAILED', s3: 'FAILED' });
    expect(w.runs.map((r) => r.name)).toEqual(['s0', 's1']);
  });

  it('never chains a throttled study, nor one sent without bundles', async () => {
    const throttled = setup(line(5), { throttle: 2 }, { bundle });
    const w1 = worker(throttled.prefix, () => ({ outcome: 'succeeded' }));
    expect(await throttled.conductor.run()).toBe('FINISHED');
    expect(w1.chains).toEqual([]);
    const alone = setup(line(5), {}, { bundle: { maxSize: 1, targetMs: 200 } });
    const w2 = worker(alone.prefix, () => ({ outcome: 'succeeded' }));
    expect(await alone.conductor.run()).toBe('FINISHED');
    expect(w2.jobSizes).toEqual(Array(5).fill(1));
  });

  it('runs a chain Redis lost again from its first link, as new attempts, each link once', async () => {
    const x = line(6);
    const one = setup(x, {}, { studyId: 'lostchain', bundle });
    const done = one.conductor.run();
    await vi_waitFor(async () => one.conductor.progress().queued === 6);
    // All six are queued, in one job; only the first waits for a worker (the fleet counts that).
    expect(names(6).map((_, i) => one.conductor.parentsDone(i))).toEqual([true, false, false, false, false, false]);
    one.conductor.stop();
    expect(await done).toBe('RUNNING');
    for (const k of await one.redis.keys(`${one.prefix}:steps:*`)) await one.redis.del(k);
    const two = setup(x, {}, { studyId: 'lostchain', prefix: one.prefix, bundle, lostGraceMs: GRACE_MS });
    const w = worker(one.prefix, () => ({ outcome: 'succeeded' }));
    expect(await two.conductor.run()).toBe('FINISHED');
    expect(w.chains).toEqual([names(6)]);
    expect(w.runs.map((r) => `${r.name}.${r.attempt}`)).toEqual(names(6).map((n) => `${n}.2`));
  });
});

async function vi_waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
