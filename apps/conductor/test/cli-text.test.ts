/** What the command line prints for people: counts, shortened commands, and closed pipes. */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { endOnClosedPipe, type PipeProcess } from '../src/cli/closed-pipe.js';
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

describe('endOnClosedPipe', () => {
  function fakeProcess(sigintListeners: number): PipeProcess & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      exitCode: undefined,
      listenerCount: () => sigintListeners,
      emit: (event) => {
        calls.push(`emit ${event}`);
        return true;
      },
      exit: (code) => {
        calls.push(`exit ${code}`);
        return undefined as never;
      },
    };
  }
  const epipe = (): NodeJS.ErrnoException => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  const destroyed = (): NodeJS.ErrnoException =>
    Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' });

  it('ends a command at once, with the exit code it has so far, once', () => {
    const stream = new EventEmitter();
    const proc = fakeProcess(0);
    endOnClosedPipe(stream, proc);
    stream.emit('error', epipe());
    stream.emit('error', destroyed());
    stream.emit('error', epipe());
    expect(proc.calls).toEqual(['exit 0']);
  });

  it('stops a command that handles Ctrl-C the way Ctrl-C does', () => {
    const stream = new EventEmitter();
    const proc = fakeProcess(1);
    endOnClosedPipe(stream, proc);
    stream.emit('error', epipe());
    stream.emit('error', destroyed());
    expect(proc.calls).toEqual(['emit SIGINT']);
  });

  it('leaves other errors to the other listeners, or throws them when there are none', () => {
    const stream = new EventEmitter();
    const proc = fakeProcess(0);
    endOnClosedPipe(stream, proc);
    const full = Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' });
    expect(() => stream.emit('error', full)).toThrow('ENOSPC');
    const seen: unknown[] = [];
    stream.on('error', (e) => seen.push(e));
    stream.emit('error', full);
    expect(seen).toEqual([full]);
    expect(proc.calls).toEqual([]);
  });
});
