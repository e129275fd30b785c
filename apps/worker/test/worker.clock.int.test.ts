/**
 * A whole worker on a driven clock (StartWorkerOptions.now): its idle timeout, the walltimes that
 * still fit its allocation, and its memory of a cancel all follow the clock it is given, not the
 * wall's. Timers stay real: the idle check still runs every second.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { controlChannel } from '@maestro/protocol';
import { CANCEL_MEMORY_MS } from '../src/control.js';
import { makeStudy, startTestWorker, Tracker } from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());

const HOUR = 3_600_000;

/** A clock that stands still until moved. */
function drivenClock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('a worker on a driven clock', () => {
  it('stops for being idle once its clock has moved past the idle timeout', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const clock = drivenClock();
    const { worker, logs } = await startTestWorker(tracker, redisUrl, study.prefix, { idleTimeout: '1h' }, {}, clock);
    // An hour of wall time would never pass in a test: only the driven clock can stop it.
    clock.advance(HOUR);
    await worker.stopped;
    expect(logs.lines.find((l) => l['msg'] === 'idle timeout: stopping')).toMatchObject({ idleTimeoutMs: HOUR });
  });

  it('hands back a walltime that no longer fits the time its clock says is left', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const clock = drivenClock();
    const endsAt = clock.now() + 3 * HOUR;
    const { logs } = await startTestWorker(
      tracker,
      redisUrl,
      study.prefix,
      { preemptMargin: '1m' },
      { allocationEndsAtMs: endsAt, handBackDelayMs: 60_000 },
      clock,
    );
    await study.add({ index: 0, timeoutMs: 2 * HOUR, script: '#!/bin/bash\ntrue\n' });
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({ outcome: 'succeeded' });
    clock.advance(HOUR + 30_000);
    await study.add({ index: 1, timeoutMs: 2 * HOUR, script: '#!/bin/bash\ntrue\n' });
    await vi.waitFor(() => {
      const line = logs.lines.find((l) => l['msg'] === 'step handed back: it cannot run on this worker');
      expect(line?.['reason']).toBe('its walltime 02:00:00 does not fit the 01:58:30 this worker has left');
    });
  });

  it('kills the steps of a cancelled study it claims within the cancel memory of its clock, and not after', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const clock = drivenClock();
    const { logs } = await startTestWorker(tracker, redisUrl, study.prefix, {}, {}, clock);
    // Only the worker's memory stands in the way: the study itself is not marked cancelled.
    await study.redis.publish(controlChannel(study.prefix), JSON.stringify({ type: 'cancel', studyId: study.studyId }));
    await vi.waitFor(() => expect(logs.lines.some((l) => l['msg'] === 'cancel received')).toBe(true));
    await study.add({ index: 0, script: '#!/bin/bash\nsleep 30\n' });
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({ outcome: 'cancelled' });
    clock.advance(CANCEL_MEMORY_MS);
    await study.add({ index: 1, script: '#!/bin/bash\ntrue\n' });
    expect(await study.waitForResult((r) => r.index === 1)).toMatchObject({ outcome: 'succeeded' });
  });
});
