/**
 * ownHeapGrowthWhileRunning changes a V8 flag while a study runs; the bin's code cache, written at
 * exit, is read only by a process under the same flags. Checked in child processes started as
 * the bin starts the conductor (`--heap-growing-percent=20`), with V8's own cache check: a cache
 * written after the study's undo is accepted by the next start, one written before it refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = pathToFileURL(path.join(import.meta.dirname, '../dist/run/heap-growth.js')).href;
const SOURCE = 'function double(a) { return a * 2 } double(3);';

/** In a fresh process under the bin's flags: writes a cache of SOURCE after `steps`, or reads one. */
function child(script: string, file: string): string {
  const code = `
    import v8 from 'node:v8'; import vm from 'node:vm'; import fs from 'node:fs';
    import { ownHeapGrowthWhileRunning } from ${JSON.stringify(MODULE)};
    v8.setFlagsFromString('--heap-growing-percent=20');
    const source = ${JSON.stringify(SOURCE)}; const file = ${JSON.stringify(file)};
    ${script}`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
}

const write = (steps: string, file: string): string =>
  child(
    `${steps}; const s = new vm.Script(source); s.runInThisContext(); fs.writeFileSync(file, s.createCachedData());`,
    file,
  );
const rejected = (file: string): boolean =>
  child(
    `process.stdout.write(String(new vm.Script(source, { cachedData: fs.readFileSync(file) }).cachedDataRejected));`,
    file,
  ) === 'true';

describe('ownHeapGrowthWhileRunning', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'maestro-heap-growth-'));

  it('leaves the flags as the bin set them once the study is done: the next start reads the cache', () => {
    const file = path.join(dir, 'undone');
    write('const undo = ownHeapGrowthWhileRunning(); undo()', file);
    expect(rejected(file)).toBe(false);
  });

  it('changes them while the study runs (a cache written then is refused)', () => {
    const file = path.join(dir, 'running');
    write('ownHeapGrowthWhileRunning()', file);
    expect(rejected(file)).toBe(true);
  });

  it('puts them back if the process exits while the study runs, before the exit-time cache', () => {
    const file = path.join(dir, 'exited');
    write(
      // The bin's cache writer listens for the exit before the conductor's code runs.
      `process.on('exit', () => { const s = new vm.Script(source); s.runInThisContext(); fs.writeFileSync(file, s.createCachedData()); }); ownHeapGrowthWhileRunning(); process.exit(0)`,
      file,
    );
    expect(rejected(file)).toBe(false);
  });
});
