/** Reading the end of a step's error file when the step may have put anything in its place. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { readTail } from '../src/status/file-tail.js';

let root: string;
let outside: string;
beforeEach(() => {
  const base = mkdtempSync(path.join(tmpdir(), 'file-tail-'));
  root = path.join(base, 'study');
  outside = path.join(base, 'secret.key');
  mkdirSync(path.join(root, 'ws'), { recursive: true });
  writeFileSync(outside, 'PRIVATE KEY\n', { mode: 0o600 });
});

describe('readTail', () => {
  it('gives the last lines of a regular file, and says when it cut', async () => {
    const file = path.join(root, 'ws', 'a.err');
    writeFileSync(file, Array.from({ length: 30 }, (_, k) => `line ${k}`).join('\n') + '\n');
    const tail = await readTail(file, 3, root);
    expect(tail).toEqual({ file, lines: ['line 27', 'line 28', 'line 29'], truncated: true });
    expect((await readTail(path.join(root, 'ws', 'none.err'), 3, root)).problem).toBe('missing');
  });

  it('does not follow a link put in place of the file', async () => {
    const file = path.join(root, 'ws', 'a.err');
    symlinkSync(outside, file);
    const tail = await readTail(file, 5, root);
    expect(tail.lines).toEqual([]);
    expect(tail.problem).toBe('not read: it is a symbolic link');
  });

  it('does not read a file reached through a folder swapped for a link', async () => {
    const elsewhere = path.dirname(outside);
    writeFileSync(path.join(elsewhere, 'a.err'), 'not the study\n');
    renameSync(path.join(root, 'ws'), path.join(root, 'ws.old'));
    symlinkSync(elsewhere, path.join(root, 'ws'));
    const tail = await readTail(path.join(root, 'ws', 'a.err'), 5, root);
    expect(tail.lines).toEqual([]);
    expect(tail.problem).toBe('not read: it lies outside the study folder');
  });

  it('neither blocks on a FIFO nor reads a device', async () => {
    const fifo = path.join(root, 'ws', 'a.err');
    execFileSync('mkfifo', [fifo]);
    // Four at once: opened blocking, each would hold one of Node's four pool threads forever.
    const tails = await Promise.all([1, 2, 3, 4].map(() => readTail(fifo, 5, root)));
    for (const t of tails) expect(t.problem).toBe('not read: it is not a regular file');
    expect((await readTail('/dev/zero', 5, '/dev')).problem).toBe('not read: it is not a regular file');
  });
});
