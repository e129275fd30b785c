/**
 * env.dependencies through the commands a user types: `maestro validate` and `maestro run`
 * refuse a path dependency that does not exist.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { tempDir, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');

const run = (cwd: string, root: string, spec: string, extra: readonly string[] = [], env?: NodeJS.ProcessEnv) =>
  maestro(['run', '-o', root, '--redis', redisUrl, '--prefix', `d${randomUUID().slice(0, 8)}`, ...extra, spec], {
    cwd,
    timeout: 60_000,
    ...(env ? { env } : {}),
  });

describe('path dependencies', () => {
  const pathSpec = `env:
  dependencies:
    paths:
      - name: INPUTS
        path: ./inputs
study:
  - {name: s, description: d, run: {cmd: ls $(INPUTS)}}
`;

  it('maestro validate and maestro run refuse a path that does not exist, at its place in the spec', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'paths', pathSpec);
    const expected = `${spec}:6:15: env.dependencies.paths[0].path: path dependency INPUTS: ${dir}/inputs does not exist; allowed: a path that exists (a relative one is taken from the working directory, ${dir})`;
    const v = await maestro(['validate', spec], { cwd: dir });
    expect({ exitCode: v.exitCode, stderr: v.stderr }).toEqual({ exitCode: 1, stderr: expected });
    const root = path.join(dir, 'study');
    const r = await run(dir, root, spec);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 1, stderr: expected });
    expect(existsSync(root)).toBe(false);
    mkdirSync(path.join(dir, 'inputs'));
    const ok = await maestro(['validate', spec], { cwd: dir });
    expect(ok.exitCode, ok.stderr).toBe(0);
  });
});
