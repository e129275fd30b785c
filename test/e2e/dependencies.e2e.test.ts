/**
 * env.dependencies through the commands a user types: `maestro run` clones git dependencies
 * (local repositories made here) before any step is queued and stops on a bad ref, a taken
 * folder or a missing git; a dry run only says what a run would clone; `maestro validate` and
 * `maestro run` refuse a path dependency that does not exist.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { makeRepo as makeTestRepo } from '../helpers/git-repo.js';
import { readStatus, tempDir, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');

const makeRepo = (dir: string): string => makeTestRepo(dir).url;

const gitSpec = (url: string, ref: string, depPath = '$(OUTPUT_PATH)/src'): string => `env:
  dependencies:
    git:
      - name: CODE
        path: ${depPath}
        url: ${url}
        ${ref}
study:
  - name: read
    description: reads the clone
    run:
      cmd: cat $(CODE)/version > seen.txt
`;

const run = (cwd: string, root: string, spec: string, extra: readonly string[] = [], env?: NodeJS.ProcessEnv) =>
  maestro(['run', '-o', root, '--redis', redisUrl, '--prefix', `d${randomUUID().slice(0, 8)}`, ...extra, spec], {
    cwd,
    timeout: 60_000,
    ...(env ? { env } : {}),
  });

describe('git dependencies', () => {
  it('maestro run clones at the tag before any step runs; $(CODE) is the clone', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'study');
    const r = await run(dir, root, writeSpec(dir, 'clone', gitSpec(url, 'tag: v1')));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Cloning git dependency CODE (${url}, tag v1) into ${root}/src/CODE\n`);
    expect(readFileSync(path.join(root, 'read/seen.txt'), 'utf8')).toBe('1\n');
    expect(readStatus(root).map((s) => s.state)).toEqual(['FINISHED']);
  });

  it('a tag the remote lacks stops the run before anything is written or queued', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'study');
    const r = await run(dir, root, writeSpec(dir, 'badtag', gitSpec(url, 'tag: v9')));
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(`maestro: git dependency CODE: ${url} has no tag 'v9'; its tags: v1`);
    expect(existsSync(root)).toBe(false); // the run made the folder: it takes it away again
  });

  it('a commit the clone lacks: the clone, the folder above it and the study folder all go', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'study');
    const r = await run(dir, root, writeSpec(dir, 'badhash', gitSpec(url, 'hash: deadbeef')));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^maestro: git dependency CODE: .* has no commit 'deadbeef'/m);
    expect(existsSync(root)).toBe(false);
  });

  it('leaves a study folder the user made, empty, as it was', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'mine');
    mkdirSync(root);
    const r = await run(dir, root, writeSpec(dir, 'badtag', gitSpec(url, 'tag: v9')));
    expect(r.exitCode).toBe(1);
    expect(readdirSync(root)).toEqual([]); // no clone, no meta/study.json, no status.csv
  });

  it('refuses a destination that holds files, and leaves them as they were', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const mine = path.join(dir, 'deps/CODE');
    mkdirSync(mine, { recursive: true });
    writeFileSync(path.join(mine, 'work.txt'), 'mine');
    const root = path.join(dir, 'study');
    const r = await run(dir, root, writeSpec(dir, 'taken', gitSpec(url, '', `${dir}/deps`)));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^maestro: git dependency CODE: ${mine} already exists and is not an empty folder; .*Move it away`),
    );
    expect(readdirSync(mine)).toEqual(['work.txt']);
    expect(existsSync(path.join(root, 'meta'))).toBe(false);
  });

  it('says so when git is not installed', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'study');
    const r = await run(dir, root, writeSpec(dir, 'nogit', gitSpec(url, '')), [], { PATH: path.join(dir, 'empty') });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(
      `maestro: git dependency CODE: cannot reach ${url}: git is not installed (or not on PATH); install git, or remove the git dependency`,
    );
    expect(existsSync(root)).toBe(false);
  });

  it('a dry run clones nothing and says where a run would clone', async () => {
    const dir = tempDir();
    const url = makeRepo(dir);
    const root = path.join(dir, 'study');
    const r = await maestro(['run', '--dry', '-o', root, writeSpec(dir, 'dry', gitSpec(url, 'tag: v1'))], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `note: dry run: git dependency CODE (${url}, tag v1) was not cloned; a run without --dry clones it into ${root}/src/CODE before any step starts`,
    );
    expect(existsSync(path.join(root, 'src'))).toBe(false);
  });
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
