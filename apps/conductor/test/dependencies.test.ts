/** env.dependencies on disk: paths that must exist. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStudy, SpecError, SpecErrorCode } from '@maestro/spec';
import { checkPathDependencies } from '../src/dependencies.js';

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'maestro-deps-'));
  temps.push(d);
  return d;
}

describe('checkPathDependencies', () => {
  it('lists every path that does not exist, each at its place in the spec', async () => {
    const cwd = temp();
    mkdirSync(path.join(cwd, 'here'));
    const { study } = parseStudy(
      `description: {name: t, description: d}
env:
  dependencies:
    paths:
      - {name: HERE, path: ./here}
      - {name: GONE, path: ./gone}
      - name: ABS
        path: /no/such/dir
study:
  - {name: s, description: d, run: {cmd: "ls $(HERE) $(GONE)"}}
`,
      { file: 'spec.yaml' },
    );
    const err = await checkPathDependencies(study, { root: '/r', specRoot: '/s', cwd }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SpecError);
    const allowed = `allowed: a path that exists (a relative one is taken from the working directory, ${cwd})`;
    expect((err as SpecError).problems).toEqual([
      {
        code: SpecErrorCode.MissingPath,
        file: 'spec.yaml',
        line: 6,
        col: 28,
        path: 'env.dependencies.paths[1].path',
        message: `path dependency GONE: ${path.join(cwd, 'gone')} does not exist`,
        allowed,
      },
      {
        code: SpecErrorCode.MissingPath,
        file: 'spec.yaml',
        line: 8,
        col: 15,
        path: 'env.dependencies.paths[2].path',
        message: 'path dependency ABS: /no/such/dir does not exist',
        allowed,
      },
    ]);
  });

  it('accepts paths that exist, files or folders', async () => {
    const cwd = temp();
    writeFileSync(path.join(cwd, 'input.dat'), '');
    const { study } = parseStudy(
      `description: {name: t, description: d}
env: {dependencies: {paths: [{name: IN, path: input.dat}, {name: ROOT, path: $(SPECROOT)}]}}
study:
  - {name: s, description: d, run: {cmd: x}}
`,
    );
    await expect(checkPathDependencies(study, { root: '/r', specRoot: cwd, cwd })).resolves.toBeUndefined();
  });
});
