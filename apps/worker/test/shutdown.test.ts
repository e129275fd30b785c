/** close() with stand-in parts: grace, drain, preempt, a second close, and the order of release. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Lifecycle } from '../src/lifecycle.js';
import { Shutdown } from '../src/shutdown.js';
import type { EndOutcome } from '../src/step-outcome.js';
import { captureLogs } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

function shutdown(options: { runningSteps?: number; consumerClose?: Promise<void> } = {}) {
  const events: string[] = [];
  const lifecycle = new Lifecycle();
  lifecycle.state = 'running';
  const stopAll = vi.fn((reason: EndOutcome, immediately: boolean) => events.push(`stopAll ${reason} ${immediately}`));
  const logs = captureLogs('info');
  const part = (name: string) => ({ stop: () => void events.push(`stop ${name}`) });
  const s = new Shutdown({
    config: { shutdownGraceMs: 30_000 },
    lifecycle,
    steps: { size: options.runningSteps ?? 1, stopAll },
    heartbeat: { beat: async () => void events.push('beat') },
    consumer: () => ({
      close: () => {
        events.push('consumer closing');
        return options.consumerClose ?? Promise.resolve();
      },
    }),
    timers: [part('allocation'), part('heartbeat'), part('idle')],
    presence: { remove: async () => void events.push('presence removed') },
    launcher: { close: async () => void events.push('launcher closed') },
    connections: { close: async () => void events.push('redis closed') },
    results: { done: 3 },
    log: logs.logger,
  });
  return { s, events, lifecycle, stopAll, logs };
}

describe('Shutdown', () => {
  it('stops fetching at once, lets steps finish, then releases everything in order', async () => {
    const x = shutdown();
    const closed = x.s.close({ drain: true });
    expect(x.lifecycle.state).toBe('draining');
    expect(x.lifecycle.stopping).toBe(true);
    await closed;
    expect(x.events).toEqual([
      'beat',
      'consumer closing',
      'stop allocation',
      'stop heartbeat',
      'stop idle',
      'presence removed',
      'launcher closed',
      'redis closed',
    ]);
    expect(x.lifecycle.state).toBe('stopped');
    await expect(x.lifecycle.stopped).resolves.toBeUndefined();
    expect(x.logs.lines.map((l) => l['msg'])).toEqual(['worker draining', 'worker stopped']);
    expect(x.logs.lines[0]).toMatchObject({ reason: 'drain', steps: 1 });
    expect(x.logs.lines[1]).toMatchObject({ done: 3 });
  });

  it('interrupts the steps still running once the shutdown grace is over', async () => {
    vi.useFakeTimers();
    let finish!: () => void;
    const x = shutdown({ consumerClose: new Promise<void>((r) => (finish = r)) });
    const closed = x.s.close();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(x.stopAll).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(x.stopAll.mock.calls).toEqual([['interrupted', false]]);
    finish();
    await closed;
    expect(x.logs.lines.map((l) => l['msg'])).toContain('shutdown grace over: interrupting running steps');
  });

  it('preempts at once when the allocation ends, and says so in later results', async () => {
    const x = shutdown();
    await x.s.close({ preempt: true });
    expect(x.lifecycle.endOutcome).toBe('preempted');
    expect(x.stopAll.mock.calls).toEqual([['preempted', false]]);
  });

  it('kills at once when closed again, but not for a second drain; every close resolves with the first', async () => {
    let finish!: () => void;
    const x = shutdown({ consumerClose: new Promise<void>((r) => (finish = r)) });
    const first = x.s.close({ drain: true });
    const again = x.s.close({ drain: true });
    expect(x.stopAll).not.toHaveBeenCalled();
    const now = x.s.close();
    expect(x.stopAll.mock.calls).toEqual([['interrupted', true]]);
    expect(again).toBe(first);
    expect(now).toBe(first);
    finish();
    await first;
  });

  it('wakes a step waiting for the worker’s own stop signal at every close', async () => {
    const x = shutdown();
    const waiting = x.lifecycle.stopSignalWithin(60_000);
    await x.s.close({ now: true });
    await expect(waiting).resolves.toBeUndefined();
    expect(x.stopAll.mock.calls).toEqual([['interrupted', true]]);
  });
});
