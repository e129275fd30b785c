import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDurationMs } from '../src/duration.js';

describe('parseDurationMs: the one duration grammar of conductor and worker', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['45', 45_000],
    ['0', 0],
    ['2d', 172_800_000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['30 s', 30_000],
    [' 1m 1ms ', 60_001],
  ])('%j is %d ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', ' ', 'm', '5 minutes', '-1s', '1e3', '5mx', '1h30', 'later', '1..5s', 's5'])(
    '%j is not a duration',
    (text) => expect(parseDurationMs(text)).toBeUndefined(),
  );

  const unit = fc.constantFrom(['ms', 1], ['s', 1_000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000]);
  const part = fc.tuple(fc.integer({ min: 0, max: 10_000 }), unit, fc.constantFrom('', ' '), fc.constantFrom('', ' '));

  it('reads any sequence of parts as the sum of its parts', () => {
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map(([n, [u], before, after]) => `${n}${before}${u}${after}`).join('');
        const ms = parts.reduce((sum, [n, [, per]]) => sum + n * per, 0);
        expect(parseDurationMs(text)).toBe(ms);
      }),
    );
  });

  it('never reads a text with anything else in it', () => {
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('x', '-', 'e', ':', 'min', '1', '.'),
        (parts, junk) => {
          const text = parts.map(([n, [u]]) => `${n}${u}`).join('') + junk;
          // A trailing number or dot cannot end a duration written with units.
          expect(parseDurationMs(text)).toBeUndefined();
        },
      ),
    );
  });
});
