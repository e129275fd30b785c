/** StopSequence and RedisWatch: the order a stopping study's parts are stopped in, and when Redis counts as lost. */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { EmbeddedRedis, Redis, RedisExit } from '../src/redis/index.js';
import type { LocalWorkers } from '../src/run/local-workers.js';
import { RedisWatch } from '../src/run/redis-watch.js';
import { StopSequence } from '../src/run/stop-sequence.js';

const log = pino({ level: 'silent' });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function parts(running = 2) {
  const calls: string[] = [];
  let workersStopped!: () => void;
  const conductor = {
    running,
    stop: vi.fn(() => calls.push('conductor.stop')),
    progress: vi.fn(() => ({ running: conductor.running }) as never),
  };
  const workers = {
    stop: vi.fn(
      (graceMs: number) =>
        new Promise<void>((resolve) => {
          calls.push(`workers.stop(${graceMs})`);
          workersStopped = () => {
            conductor.running = 0; // their hand-backs applied
            resolve();
          };
        }),
    ),
    kill: vi.fn(() => calls.push('workers.kill')),
  };
  const connection = { disconnect: vi.fn(() => calls.push('disconnect')) };
  const sequence = new StopSequence({
    conductor,
    workers: workers as unknown as LocalWorkers,
    embedded: undefined,
    connections: [connection as unknown as Redis],
    log,
    graceMs: 5_000,
  });
  return { calls, conductor, workers, connection, sequence, workersStopped: () => workersStopped() };
}

describe('StopSequence', () => {
  it('a first signal: workers hand back first, the conductor stops after them', async () => {
    const p = parts();
    p.sequence.interrupt('SIGINT');
    expect(p.sequence.reason).toBe('interrupted (SIGINT)');
    await vi.waitFor(() => expect(p.calls).toEqual(['workers.stop(5000)']));
    p.workersStopped();
    await vi.waitFor(() => expect(p.calls).toEqual(['workers.stop(5000)', 'conductor.stop']));
    p.sequence.settled();
    expect(p.sequence.lostReason).toBeUndefined();
  });

  it('the same signal twice at once (timeout: to the command, then its group) is one request', () => {
    const p = parts();
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    p.sequence.interrupt('SIGTERM');
    p.sequence.interrupt('SIGTERM');
    expect(exit).not.toHaveBeenCalled();
    expect(p.workers.kill).not.toHaveBeenCalled();
  });

  it('a second signal later ends everything at once', () => {
    vi.useFakeTimers();
    const p = parts();
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    p.sequence.interrupt('SIGINT');
    vi.advanceTimersByTime(500);
    p.sequence.interrupt('SIGINT');
    expect(p.workers.kill).toHaveBeenCalled();
    expect(exit).toHaveBeenCalledWith(130);
  });

  it('Redis lost: workers killed, the conductor stopped, connections dropped, whenLost settles', async () => {
    const p = parts();
    p.sequence.lost('the study’s redis-server was killed by SIGKILL', 'its last log lines');
    expect(p.calls).toEqual(['workers.kill', 'conductor.stop', 'disconnect']);
    await expect(p.sequence.whenLost).resolves.toBe('the study’s redis-server was killed by SIGKILL');
    expect(p.sequence.lostDetails).toBe('its last log lines');
    p.sequence.lost('again'); // the first reason stands
    expect(p.sequence.lostReason).toBe('the study’s redis-server was killed by SIGKILL');
  });
});

/** A connection whose PING is answered while it is up, and when it comes back (as ioredis queues it). */
function fakeRedis() {
  const waiting: (() => void)[] = [];
  let up = true;
  const redis = Object.assign(new EventEmitter(), {
    ping: vi.fn(() => (up ? Promise.resolve('PONG') : new Promise<string>((r) => waiting.push(() => r('PONG'))))),
    setUp(value: boolean) {
      up = value;
      if (up) for (const answer of waiting.splice(0)) answer();
    },
  });
  return redis;
}

describe('RedisWatch', () => {
  it('an embedded server that exits by itself is lost at once, with its last log lines', async () => {
    let exit!: (e: RedisExit) => void;
    const embedded = {
      exited: new Promise<RedisExit>((r) => (exit = r)),
      lastLines: () => Promise.resolve('a line\nthe last line'),
      logFile: '/s/meta/redis/redis.log',
    } as unknown as EmbeddedRedis;
    const onLost = vi.fn();
    const watch = new RedisWatch({
      redis: fakeRedis() as unknown as Redis,
      target: { url: 'redis+unix:///s/meta/redis/redis.sock' },
      embedded,
      where: "the study's redis-server",
      timeoutMs: 60_000,
      log,
      onLost,
    });
    watch.start();
    exit({ code: null, signal: 'SIGKILL', expected: false });
    await vi.waitFor(() => expect(onLost).toHaveBeenCalled());
    expect(onLost).toHaveBeenCalledWith(
      "the study's redis-server was killed by SIGKILL",
      'its last log lines (/s/meta/redis/redis.log):\n  a line\n  the last line',
    );
    watch.close();
  });

  it('a Redis that does not answer: a warning, then lost after the timeout; an outage shorter is waited out', async () => {
    vi.useFakeTimers();
    const redis = fakeRedis();
    const warn = vi.spyOn(log, 'warn');
    const onLost = vi.fn();
    const watch = new RedisWatch({
      redis: redis as unknown as Redis,
      target: { url: 'redis://h:6379' },
      embedded: undefined,
      where: 'Redis at redis://h:6379',
      timeoutMs: 30_000,
      warnAfterMs: 5_000,
      log,
      onLost,
    });
    watch.start();
    redis.setUp(false);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(warn).toHaveBeenCalledWith(
      expect.anything(),
      'Redis at redis://h:6379 has not answered for 5s; the study waits up to 30s for it (--redis-timeout)',
    );
    expect(onLost).not.toHaveBeenCalled();
    redis.setUp(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(warn).toHaveBeenCalledWith('Redis at redis://h:6379 answers again');
    redis.setUp(false);
    await vi.advanceTimersByTimeAsync(31_000);
    expect(onLost).toHaveBeenCalledWith('Redis at redis://h:6379 has not answered for 30s', undefined);
    watch.close();
  });

  it('credentials refused on reconnecting: lost at once', () => {
    const redis = fakeRedis();
    const onLost = vi.fn();
    const watch = new RedisWatch({
      redis: redis as unknown as Redis,
      target: { url: 'redis://:pw@h:6379' },
      embedded: undefined,
      where: 'Redis at redis://:***@h:6379',
      timeoutMs: 0,
      log,
      onLost,
    });
    watch.start();
    redis.emit('error', new Error('WRONGPASS invalid username-password pair'));
    expect(onLost.mock.calls[0]![0]).toMatch(/^Redis at redis:\/\/:\*\*\*@h:6379 refused the credentials: WRONGPASS/);
    expect(onLost.mock.calls[0]![0]).not.toContain(':pw@');
    watch.close();
  });
});
