/** The internal priority set behind topologicalOrder, against a sorted-array reference. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinIdSetInternal } from '../src/min-id-set.js';
import { makeRandom, pick } from './helpers.js';

describe('MinIdSetInternal', () => {
  it('pops members in ascending order across word and level boundaries', () => {
    const set = new MinIdSetInternal(70_000);
    const ids = [69_999, 0, 31, 32, 1023, 1024, 32_767, 32_768, 33, 65_535, 65_536];
    for (const id of ids) set.add(id);
    expect(set.size).toBe(ids.length);
    const out: number[] = [];
    for (let id = set.popMin(); id !== -1; id = set.popMin()) out.push(id);
    expect(out).toEqual([...ids].sort((a, b) => a - b));
    expect(set.size).toBe(0);
    expect(set.popMin()).toBe(-1);
  });

  it('matches a reference under random interleaved adds and pops', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 31, 32, 33, 1025, 40_000, 1 << 20), fc.integer(), (capacity, seed) => {
        const random = makeRandom(seed);
        const set = new MinIdSetInternal(capacity);
        const present = new Set<number>();
        for (let step = 0; step < 300; step++) {
          if (random() < 0.6) {
            const id = pick(random, capacity);
            if (present.has(id)) continue;
            present.add(id);
            set.add(id);
          } else {
            const expected = present.size === 0 ? -1 : Math.min(...present);
            expect(set.popMin()).toBe(expected);
            present.delete(expected);
          }
          expect(set.size).toBe(present.size);
        }
      }),
      { numRuns: 50 },
    );
  });
});
