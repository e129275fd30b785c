/** The idle timeout, on a driven clock: what counts as work, and what keeps a worker busy. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleTimeout } from '../src/idle-timeout.js';
import type { WorkerState } from '../src/lifecycle.js';

afterEach(() => {
  vi.useRealTimers();
});

function idleTimeout(timeoutMs: number | undefined) {
  let t = 0;
  const lifecycle = { state: 'running' as WorkerState };
  const running = { size: 0 };
  const onIdle = vi.fn();
  const idle = new IdleTimeout({ timeoutMs, now: () => t, lifecycle, running, onIdle });
  return { idle, lifecycle, running, onIdle, advance: (ms: number) => (t += ms) };
}

describe('IdleTimeout', () => {
  it('is idle after timeoutMs of its clock with nothing running, in hand or done', () => {
    const x = idleTimeout(30_000);
    x.advance(29_999);
    expect(x.idle.isIdle()).toBe(false);
    x.advance(1);
    expect(x.idle.isIdle()).toBe(true);
    x.idle.touch();
    expect(x.idle.isIdle()).toBe(false);
  });

  it('is never idle with a job in hand or a step running, nor unless it runs', () => {
    const x = idleTimeout(1_000);
    x.advance(5_000);
    x.idle.jobTaken();
    expect(x.idle.isIdle()).toBe(false);
    x.advance(5_000);
    x.idle.jobDone(true);
    expect(x.idle.isIdle()).toBe(false); // the job was work: its end starts the idle time again
    x.running.size = 1;
    x.advance(5_000);
    expect(x.idle.isIdle()).toBe(false);
    x.running.size = 0;
    x.lifecycle.state = 'draining';
    expect(x.idle.isIdle()).toBe(false);
  });

  it('does not count a job handed back as work', () => {
    const x = idleTimeout(1_000);
    x.advance(900);
    x.idle.jobTaken();
    x.advance(100);
    x.idle.jobDone(false);
    expect(x.idle.isIdle()).toBe(true);
  });

  it('is quiet with nothing in hand or running, whatever the timeout or the time', () => {
    const x = idleTimeout(undefined);
    expect(x.idle.isQuiet()).toBe(true);
    x.idle.jobTaken();
    expect(x.idle.isQuiet()).toBe(false);
    x.idle.jobDone(true);
    x.running.size = 1;
    expect(x.idle.isQuiet()).toBe(false);
    x.running.size = 0;
    expect(x.idle.isQuiet()).toBe(true);
    x.lifecycle.state = 'draining';
    expect(x.idle.isQuiet()).toBe(false);
  });

  it('without a timeout, is never idle and arms no timer', () => {
    vi.useFakeTimers();
    const x = idleTimeout(undefined);
    x.idle.start();
    x.advance(86_400_000);
    expect(x.idle.isIdle()).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('checks every second once started, and calls for the stop when idle', () => {
    vi.useFakeTimers();
    const x = idleTimeout(5_000);
    x.idle.start();
    x.advance(5_000);
    vi.advanceTimersByTime(999);
    expect(x.onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(x.onIdle).toHaveBeenCalledOnce();
    x.idle.stop();
    vi.advanceTimersByTime(10_000);
    expect(x.onIdle).toHaveBeenCalledOnce();
  });
});
