/**
 * The worker's code cache (apps/worker/bin/code-cache.js), on Node versions without
 * module.enableCompileCache: the first start writes it, later starts read it (V8 accepts it, so
 * it is not written again), and a damaged one is compiled over and replaced. Each test runs the
 * worker with a V8 flag of its own, which gives it a cache file of its own.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { WORKER_BIN } from '../helpers/cli.js';

const BUNDLE = path.join(REPO_ROOT, 'apps/worker/dist/maestro-worker.cjs');
const CACHE_DIR = path.join(REPO_ROOT, 'apps/worker/dist/.code-cache');
const cacheFiles = (): string[] => {
  try {
    return readdirSync(CACHE_DIR);
  } catch {
    return [];
  }
};

/**
 * The end of the cache file's name for a worker run under `flag` alone (code-cache.js's key):
 * other tests' workers may write caches of their own meanwhile.
 */
const keyOf = (flag: string): string =>
  createHash('sha256')
    .update(JSON.stringify([BUNDLE, process.version, process.arch, [flag], '']))
    .digest('hex')
    .slice(0, 16);

/** `maestro-worker --version` under `flag`; returns the cache file it wrote, if it wrote one. */
async function version(flag: string): Promise<{ stdout: string; wrote: string[] }> {
  const before = new Map(cacheFiles().map((f) => [f, statSync(path.join(CACHE_DIR, f)).mtimeMs]));
  const r = await execa(process.execPath, [flag, WORKER_BIN, '--version']);
  const wrote = cacheFiles().filter(
    (f) => f.endsWith(`.${keyOf(flag)}`) && before.get(f) !== statSync(path.join(CACHE_DIR, f)).mtimeMs,
  );
  written.push(...wrote);
  return { stdout: r.stdout, wrote };
}

const written: string[] = [];
afterAll(() => written.forEach((f) => rmSync(path.join(CACHE_DIR, f), { force: true })));

describe.skipIf(typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function')(
  'the worker code cache (Node without a compile cache of its own)',
  () => {
    // A stack size no other run uses: a cache key of this test's own.
    const flag = `--stack-size=${900 + Math.floor(Math.random() * 90)}`;

    it('is written by a first start and read, not written again, by the next', async () => {
      const first = await version(flag);
      expect(first.stdout).toBe('0.1.0');
      expect(first.wrote).toHaveLength(1);
      const second = await version(flag);
      expect(second.stdout).toBe('0.1.0');
      expect(second.wrote).toEqual([]);
    });

    it('is compiled over and replaced when damaged', async () => {
      const damagedFlag = `${flag}1`;
      const [file] = (await version(damagedFlag)).wrote;
      expect(file).toBeDefined();
      writeFileSync(path.join(CACHE_DIR, file!), 'not a code cache');
      const again = await version(damagedFlag);
      expect(again.stdout).toBe('0.1.0');
      expect(again.wrote).toEqual([file]);
      expect(statSync(path.join(CACHE_DIR, file!)).size).toBeGreaterThan(100_000);
    });
  },
);
