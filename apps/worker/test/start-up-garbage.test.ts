/** The start-up collection: once, in the first quiet moment, and really through V8. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StartUpGarbage } from '../src/start-up-garbage.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('StartUpGarbage', () => {
  it('collects once, at the first check that finds the worker quiet, then stops looking', () => {
    vi.useFakeTimers();
    let quiet = false;
    const collect = vi.fn();
    const g = new StartUpGarbage({ isQuiet: () => quiet, collect, checkMs: 500 });
    g.start();
    vi.advanceTimersByTime(5_000);
    expect(collect).not.toHaveBeenCalled();
    quiet = true;
    vi.advanceTimersByTime(499);
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledOnce();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never collects once stopped (shutdown), nor starts again', () => {
    vi.useFakeTimers();
    const collect = vi.fn();
    const g = new StartUpGarbage({ isQuiet: () => true, collect });
    g.start();
    g.stop();
    g.start();
    vi.advanceTimersByTime(10_000);
    expect(collect).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('by default frees what is unreachable, without --expose-gc, and leaves no global gc', async () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    let garbage: object | undefined = { big: new Array(1000).fill('x') };
    const ref = new WeakRef(garbage);
    garbage = undefined;
    await new Promise<void>((resolve) => {
      const g = new StartUpGarbage({ isQuiet: () => true, checkMs: 1 });
      g.start();
      const wait = setInterval(() => {
        if (ref.deref() === undefined) {
          clearInterval(wait);
          resolve();
        }
      }, 5);
    });
    expect(ref.deref()).toBeUndefined();
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
  });
});
