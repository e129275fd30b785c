/**
 * The conductor's code cache (bin/maestro.js running dist/bundle/maestro.cjs through
 * @maestro/worker/code-cache), on Node versions without module.enableCompileCache: as the
 * worker's (worker-code-cache.e2e.test.ts), written by a first start and read by the next, and
 * compiled over when damaged; besides, one cache per command, module parameter generators still
 * imported from a cached bundle, and a stale bundle not run at all. Each test runs the CLI with a
 * V8 flag of its own, which gives it cache files of its own.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { MAESTRO_BIN } from '../helpers/cli.js';

const BUNDLE = path.join(REPO_ROOT, 'apps/conductor/dist/bundle/maestro.cjs');
const CACHE_DIR = path.join(REPO_ROOT, 'apps/conductor/dist/bundle/.code-cache');
const cacheFiles = (): string[] => {
  try {
    return readdirSync(CACHE_DIR);
  } catch {
    return [];
  }
};

/** The end of a cache file's name for the CLI run under `flag` alone, for `command` (the bin's variant). */
const keyOf = (flag: string, command: string): string =>
  createHash('sha256')
    .update(JSON.stringify([BUNDLE, process.version, process.arch, [flag], command]))
    .digest('hex')
    .slice(0, 16);

/** `maestro ARGS` under `flag`; returns the cache files of this flag it wrote. */
async function maestro(flag: string, args: string[]): Promise<{ stdout: string; exitCode?: number; wrote: string[] }> {
  const mtimes = new Map(cacheFiles().map((f) => [f, statSync(path.join(CACHE_DIR, f)).mtimeMs]));
  const r = await execa(process.execPath, [flag, MAESTRO_BIN, ...args], { reject: false });
  const ours = new Set(['', 'expand', 'validate', 'run'].map((c) => keyOf(flag, c)));
  const wrote = cacheFiles().filter(
    (f) => ours.has(f.slice(-16)) && mtimes.get(f) !== statSync(path.join(CACHE_DIR, f)).mtimeMs,
  );
  written.push(...wrote);
  return { stdout: r.stdout, exitCode: r.exitCode, wrote };
}

const written: string[] = [];
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'maestro-ccache-'));
  writeFileSync(
    path.join(dir, 'study.yaml'),
    'description: {name: cached, description: d}\nstudy:\n  - {name: s, description: d, run: {cmd: "echo $(X)"}}\n',
  );
  writeFileSync(
    path.join(dir, 'gen.mjs'),
    "export const getParameters = () => ({ X: { values: [1, 2], label: 'X.%%' } });\n",
  );
});
afterAll(() => {
  written.forEach((f) => rmSync(path.join(CACHE_DIR, f), { force: true }));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function')(
  'the conductor code cache (Node without a compile cache of its own)',
  () => {
    // A stack size no other run uses: cache keys of this test's own.
    const flag = `--stack-size=${900 + Math.floor(Math.random() * 90)}`;

    it('is written by a first start and read, not written again, by the next', async () => {
      const first = await maestro(flag, ['--version']);
      expect(first.stdout).toBe('0.1.0');
      expect(first.wrote).toEqual([expect.stringMatching(new RegExp(`${keyOf(flag, '')}$`))]);
      const second = await maestro(flag, ['--version']);
      expect(second.stdout).toBe('0.1.0');
      expect(second.wrote).toEqual([]);
    });

    it('is one per command: each compiles its own part of the bundle', async () => {
      const validate = await maestro(flag, ['validate', path.join(dir, 'study.yaml')]);
      expect(validate.exitCode).toBe(0);
      expect(validate.wrote).toEqual([expect.stringMatching(new RegExp(`${keyOf(flag, 'validate')}$`))]);
      expect((await maestro(flag, ['validate', path.join(dir, 'study.yaml')])).wrote).toEqual([]);
    });

    it('is written by a first run and read by the next (one per command: run)', async () => {
      const run = (k: number): ReturnType<typeof maestro> =>
        maestro(flag, [
          'run',
          path.join(dir, 'study.yaml'),
          '-o',
          path.join(dir, `run-${k}`),
          '--pgen',
          path.join(dir, 'gen.mjs'),
        ]);
      const first = await run(1);
      expect(first.exitCode).toBe(0);
      expect(first.wrote).toEqual([expect.stringMatching(new RegExp(`${keyOf(flag, 'run')}$`))]);
      const second = await run(2);
      expect(second.exitCode).toBe(0);
      expect(second.wrote).toEqual([]);
    });

    it('imports a module parameter generator from a bundle read from the cache (Node 20 keeps no import() loader in cached code)', async () => {
      const args = ['expand', path.join(dir, 'study.yaml'), '--pgen', path.join(dir, 'gen.mjs'), '--json'];
      const first = await maestro(flag, args);
      expect(first.wrote).toHaveLength(1);
      const second = await maestro(flag, args);
      expect(second.wrote).toEqual([]);
      for (const r of [first, second]) {
        expect(r.exitCode).toBe(0);
        const expanded = JSON.parse(r.stdout) as { steps: { name: string }[] };
        expect(expanded.steps.map((s) => s.name)).toEqual(['s_X.1', 's_X.2']);
      }
    });

    it('is compiled over and replaced when damaged', async () => {
      const damagedFlag = `${flag}1`;
      const [file] = (await maestro(damagedFlag, ['--version'])).wrote;
      expect(file).toBeDefined();
      writeFileSync(path.join(CACHE_DIR, file!), 'not a code cache');
      const again = await maestro(damagedFlag, ['--version']);
      expect(again.stdout).toBe('0.1.0');
      expect(again.wrote).toEqual([file]);
      expect(statSync(path.join(CACHE_DIR, file!)).size).toBeGreaterThan(100_000);
    });

    it('is not used with a bundle older than a compiled file in it: the bin runs dist/main.js', async () => {
      // One of the bundle's inputs made newer than the bundle, for this test only.
      const input = path.join(REPO_ROOT, 'apps/conductor/dist/cli/validate.js');
      const { atime, mtime } = statSync(input);
      utimesSync(input, atime, new Date(Date.now() + 60_000));
      try {
        const r = await maestro(`${flag}2`, ['validate', path.join(dir, 'study.yaml')]);
        expect(r.exitCode).toBe(0);
        expect(r.wrote).toEqual([]);
      } finally {
        utimesSync(input, atime, mtime);
      }
    });
  },
);
