/** Allocation ids as maestro keeps them: one form per Flux job, whatever the locale printed. */
import { describe, expect, it } from 'vitest';
import { canonicalAllocationId } from '../src/index.js';

describe('canonicalAllocationId', () => {
  it('keeps a Flux F58 id in its f form, whether Flux printed ƒ or f', () => {
    expect(canonicalAllocationId('flux', 'ƒ4Fh9bJX')).toBe('f4Fh9bJX');
    expect(canonicalAllocationId('flux', 'f4Fh9bJX')).toBe('f4Fh9bJX');
    expect(canonicalAllocationId('flux', ' ƒ4Fh9bJX\n')).toBe('f4Fh9bJX');
  });

  it('leaves every other id as it is', () => {
    expect(canonicalAllocationId('flux', '123456')).toBe('123456'); // a decimal Flux id
    expect(canonicalAllocationId('flux', 'ƒ0OIl')).toBe('ƒ0OIl'); // not F58
    expect(canonicalAllocationId('slurm', 'ƒ4Fh9bJX')).toBe('ƒ4Fh9bJX');
    expect(canonicalAllocationId(undefined, '42')).toBe('42');
  });
});
