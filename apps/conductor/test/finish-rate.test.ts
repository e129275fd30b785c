import { describe, expect, it } from 'vitest';
import { FinishRate } from '../src/conductor/finish-rate.js';

describe('FinishRate', () => {
  it('counts the finishes of the last minute, to the second', () => {
    const rate = new FinishRate();
    const t0 = 1_700_000_000_000;
    for (let k = 0; k < 5; k++) rate.record(t0 + k * 100);
    rate.record(t0 + 30_000);
    expect(rate.count(t0 + 30_000)).toBe(6);
    // The first five (second 0) leave the window a minute later; the sixth stays.
    expect(rate.count(t0 + 59_999)).toBe(6);
    expect(rate.count(t0 + 60_000)).toBe(1);
    expect(rate.count(t0 + 90_000)).toBe(0);
  });

  it('forgets everything after a pause longer than the window, and counts again', () => {
    const rate = new FinishRate();
    const t0 = 1_700_000_000_000;
    for (let k = 0; k < 1000; k++) rate.record(t0 + k);
    expect(rate.count(t0 + 1000)).toBe(1000);
    rate.record(t0 + 10 * 60_000);
    expect(rate.count(t0 + 10 * 60_000)).toBe(1);
  });

  it('agrees with a plain list of timestamps over a long irregular run', () => {
    const rate = new FinishRate();
    const times: number[] = [];
    let now = 1_700_000_000_000;
    let seed = 7;
    for (let k = 0; k < 20_000; k++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      now += seed % 40; // 0-39 ms apart: about three minutes in all
      rate.record(now);
      times.push(now);
      if (k % 997 === 0) {
        const second = Math.floor(now / 1000);
        const expected = times.filter((t) => Math.floor(t / 1000) > second - 60).length;
        expect(rate.count(now)).toBe(expected);
      }
    }
  });
});
