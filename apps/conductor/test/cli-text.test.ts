/** What the command line prints for people: counts and shortened commands. */
import { describe, expect, it } from 'vitest';
import { shortCommand } from '../src/cli/expand.js';
import { formatCount } from '../src/status/count.js';

describe('formatCount', () => {
  it('says one thing in the singular and every other number in the plural', () => {
    expect(formatCount(1, 'step instance')).toBe('1 step instance');
    expect(formatCount(0, 'step instance')).toBe('0 step instances');
    expect(formatCount(2, 'worker')).toBe('2 workers');
    expect(formatCount(3, 'study', 'studies')).toBe('3 studies');
  });
});

describe('shortCommand', () => {
  it('keeps a one-line command that fits as it is', () => {
    expect(shortCommand('echo hello $X', 80)).toBe('echo hello $X');
  });

  it('gives the first line of a script and how many lines follow', () => {
    expect(shortCommand('\n  cd data\n\n  ./sim --n 4\n  exit 0\n', 80)).toBe('cd data  [+2 lines]');
    expect(shortCommand('a\nb\n', 80)).toBe('a  [+1 line]');
  });

  it('cuts a long line to the width, with ... where it was cut', () => {
    const cut = shortCommand(`python run.py ${'--flag '.repeat(30)}`, 40);
    expect(cut).toHaveLength(40);
    expect(cut.endsWith('...')).toBe(true);
    expect(shortCommand(`${'x'.repeat(50)}\nmore`, 40)).toBe(`${'x'.repeat(26)}...  [+1 line]`);
  });
});
