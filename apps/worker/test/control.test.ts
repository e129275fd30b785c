/** The control channel: which instances a cancel reaches and for how long, and whose drain it is. */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { controlChannel, type WorkerSignal } from '@maestro/protocol';
import { CANCEL_MEMORY_MS, ControlChannel, type ControlHandlers } from '../src/control.js';
import type { Redis } from '../src/redis.js';
import { captureLogs } from './helpers.js';

function channel(
  who: { name: string; allocationId?: string } = { name: 'w1', allocationId: '42' },
  handlers: Partial<ControlHandlers> = {},
) {
  let t = 1_000_000;
  const logs = captureLogs('info');
  const drain = vi.fn();
  const control = new ControlChannel(who, logs.logger, () => t, {
    cancelRunning: () => 0,
    drain,
    ...handlers,
  });
  return { control, logs, drain, advance: (ms: number) => (t += ms) };
}

const cancel = (studyId: string, indices?: number[]): WorkerSignal => ({
  type: 'cancel',
  studyId,
  ...(indices ? { indices } : {}),
});

describe('cancels', () => {
  it('reach the instances they name, or the whole study, and no other study', () => {
    const { control } = channel();
    control.onSignal(cancel('a', [1, 3]));
    control.onSignal(cancel('b'));
    expect(control.isCancelled({ studyId: 'a', index: 1 })).toBe(true);
    expect(control.isCancelled({ studyId: 'a', index: 2 })).toBe(false);
    expect(control.isCancelled({ studyId: 'b', index: 7 })).toBe(true);
    expect(control.isCancelled({ studyId: 'c', index: 1 })).toBe(false);
  });

  it(`are remembered for ${CANCEL_MEMORY_MS} ms of the worker's clock, for steps claimed just before`, () => {
    const { control, advance } = channel();
    control.onSignal(cancel('a'));
    advance(CANCEL_MEMORY_MS - 1);
    control.forgetExpired();
    expect(control.isCancelled({ studyId: 'a', index: 0 })).toBe(true);
    advance(1);
    expect(control.isCancelled({ studyId: 'a', index: 0 })).toBe(false);
    control.forgetExpired();
    // A later cancel of the same study starts its memory again.
    control.onSignal(cancel('a', [2]));
    expect(control.isCancelled({ studyId: 'a', index: 2 })).toBe(true);
    expect(control.isCancelled({ studyId: 'a', index: 0 })).toBe(false);
  });

  it('kill the running steps they reach at once, and say how many', () => {
    const cancelRunning = vi.fn(() => 2);
    const { control, logs } = channel(undefined, { cancelRunning });
    control.onSignal(cancel('a', [0, 1]));
    expect(cancelRunning).toHaveBeenCalledOnce();
    expect(logs.lines).toEqual([
      expect.objectContaining({ msg: 'cancel received', studyId: 'a', indices: [0, 1], steps: 2 }),
    ]);
  });
});

describe('drains', () => {
  it('are this worker’s when they name everyone, its allocation or its name', () => {
    const mine: WorkerSignal[] = [
      { type: 'drain' },
      { type: 'drain', allocations: ['7', '42'] },
      { type: 'drain', workers: ['w1'] },
    ];
    const others: WorkerSignal[] = [
      { type: 'drain', allocations: ['7'] },
      { type: 'drain', workers: ['w2'] },
    ];
    for (const signal of mine) {
      const { control, drain } = channel();
      control.onSignal(signal);
      expect(drain).toHaveBeenCalledOnce();
    }
    for (const signal of others) {
      const { control, drain } = channel();
      control.onSignal(signal);
      expect(drain).not.toHaveBeenCalled();
    }
    // Outside any allocation, a drain of allocations is never this worker's.
    const { control, drain } = channel({ name: 'w1' });
    control.onSignal({ type: 'drain', allocations: ['42'] });
    expect(drain).not.toHaveBeenCalled();
  });
});

describe('subscribe', () => {
  it('reads signals from the control channel only, and ignores what it cannot parse', async () => {
    const subscriber = Object.assign(new EventEmitter(), { subscribe: vi.fn(async () => 1) });
    const { control, logs, drain } = channel();
    await control.subscribe(subscriber as unknown as Redis, 'p');
    expect(subscriber.subscribe).toHaveBeenCalledWith(controlChannel('p'));
    subscriber.emit('message', 'elsewhere', JSON.stringify({ type: 'drain' }));
    subscriber.emit('message', controlChannel('p'), 'not json');
    subscriber.emit('message', controlChannel('p'), JSON.stringify({ type: 'drain' }));
    expect(drain).toHaveBeenCalledOnce();
    expect(logs.lines.map((l) => l['msg'])).toEqual(['ignored an unknown control message']);
  });
});
