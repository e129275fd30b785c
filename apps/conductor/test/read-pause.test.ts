import { describe, expect, it } from 'vitest';
import { readPauseMs } from '../src/conductor/intake.js';
import { IDLE_READ_MS_PER_LEFT, IDLE_READS_MS, PROMPT_READS_LEFT } from '../src/conductor/timing.js';
import { expand, machineOf, result, sendAll, sweep } from './helpers/machine-study.js';

describe('readPauseMs', () => {
  it('reads idly while no result can send anything and many instances are left', () => {
    const f = machineOf(expand(sweep(1000)));
    expect(sendAll(f)).toHaveLength(1000);
    expect(readPauseMs(f.m, 3000, 1000)).toBe(IDLE_READS_MS);
  });

  it('pauses less as the study nears its end: at most IDLE_READ_MS_PER_LEFT per instance left', () => {
    const n = 50;
    const f = machineOf(expand(sweep(n)));
    sendAll(f);
    expect(readPauseMs(f.m, 3000, 1000)).toBe(n * IDLE_READ_MS_PER_LEFT);
    for (let i = 0; i < 30; i++) f.m.applyEvent(result(i, 1, 'succeeded'), 2100);
    expect(readPauseMs(f.m, 3000, 1000)).toBe((n - 30) * IDLE_READ_MS_PER_LEFT);
  });

  it('reads results as they come once the study is down to its last few instances', () => {
    const f = machineOf(expand(sweep(10)));
    sendAll(f);
    const ending = 10 - PROMPT_READS_LEFT;
    for (let i = 0; i < ending - 1; i++) f.m.applyEvent(result(i, 1, 'succeeded'), 2100);
    expect(readPauseMs(f.m, 3000, 1000)).toBe((PROMPT_READS_LEFT + 1) * IDLE_READ_MS_PER_LEFT); // one more than the few left
    f.m.applyEvent(result(ending - 1, 1, 'succeeded'), 2100);
    expect(readPauseMs(f.m, 3000, 1000)).toBe(0);
  });

  it('reads a 1-step study as its result comes', () => {
    const f = machineOf(expand(sweep(1)));
    sendAll(f);
    expect(readPauseMs(f.m, 3000, 1000)).toBe(0);
  });
});
