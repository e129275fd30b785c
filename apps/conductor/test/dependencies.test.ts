/**
 * env.dependencies on disk, with real git repositories made in temporary folders: paths that
 * must exist, and clones at a tag, a branch or a commit, refused or undone without ever touching
 * a folder the user has.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStudy, SpecError, SpecErrorCode, type ResolvedGitDependency } from '@maestro/spec';
import { git, makeRepo as makeTestRepo } from '../../../test/helpers/git-repo.js';
import { checkPathDependencies, cloneGitDependencies, GitDependencyError } from '../src/study/dependencies.js';

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'maestro-deps-'));
  temps.push(d);
  return d;
}

const makeRepo = (): { url: string; first: string } => makeTestRepo(temp());

const dep = (over: Partial<ResolvedGitDependency> & { dest: string; url: string }): ResolvedGitDependency => ({
  name: 'CODE',
  ref: undefined,
  at: ['env', 'dependencies', 'git', 0],
  ...over,
});

async function clone(deps: ResolvedGitDependency[]): Promise<string[]> {
  const lines: string[] = [];
  await cloneGitDependencies(deps, { cwd: temp(), interactive: false, progress: (l) => lines.push(l) });
  return lines;
}

async function cloneError(deps: ResolvedGitDependency[]): Promise<GitDependencyError> {
  const err = await clone(deps).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitDependencyError);
  return err as GitDependencyError;
}

const versionIn = (dir: string): string => readFileSync(path.join(dir, 'version'), 'utf8').trim();

describe('cloneGitDependencies', () => {
  it("clones the remote's default branch into <path>/<name>, making the folders it needs", async () => {
    const { url } = makeRepo();
    const dest = path.join(temp(), 'study/src/CODE');
    const lines = await clone([dep({ url, dest })]);
    expect(versionIn(dest)).toBe('2');
    expect(lines).toEqual([`Cloning git dependency CODE (${url}) into ${dest}`]);
  });

  it('checks out a tag, a branch or a commit after the clone, as Maestro does', async () => {
    const { url, first } = makeRepo();
    const root = temp();
    const at = (name: string) => path.join(root, name);
    await clone([
      dep({ name: 'T', url, dest: at('T'), ref: { kind: 'tag', name: 'v1' } }),
      dep({ name: 'B', url, dest: at('B'), ref: { kind: 'branch', name: 'dev' } }),
      dep({ name: 'H', url, dest: at('H'), ref: { kind: 'hash', name: first.slice(0, 8) } }),
    ]);
    expect([versionIn(at('T')), versionIn(at('B')), versionIn(at('H'))]).toEqual(['1', 'dev', '1']);
    expect(git(at('B'), 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('dev');
    expect(git(at('T'), 'rev-parse', 'HEAD')).toBe(first);
  });

  it('clones into an existing empty folder (nothing is overwritten)', async () => {
    const { url } = makeRepo();
    const dest = path.join(temp(), 'CODE');
    mkdirSync(dest);
    await clone([dep({ url, dest })]);
    expect(versionIn(dest)).toBe('2');
  });

  it('refuses a folder that holds anything, before cloning anything, and leaves it as it was', async () => {
    const { url } = makeRepo();
    const root = temp();
    const mine = path.join(root, 'CODE');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'notes.txt'), 'mine');
    const other = path.join(root, 'OTHER');
    const err = await cloneError([dep({ name: 'OTHER', url, dest: other }), dep({ url, dest: mine })]);
    expect(err.message).toMatch(
      new RegExp(
        `^git dependency CODE: ${mine} already exists and is not an empty folder; maestro clones each git dependency afresh`,
      ),
    );
    expect(readdirSync(mine)).toEqual(['notes.txt']);
    expect(readFileSync(path.join(mine, 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(other)).toBe(false);
  });

  it('refuses a file where the clone would go', async () => {
    const { url } = makeRepo();
    const dest = path.join(temp(), 'CODE');
    writeFileSync(dest, 'a file');
    const err = await cloneError([dep({ url, dest })]);
    expect(err.message).toMatch(/already exists and is not an empty folder/);
    expect(readFileSync(dest, 'utf8')).toBe('a file');
  });

  it('stops at a tag or branch the remote does not have, naming what it has, before cloning anything', async () => {
    const { url } = makeRepo();
    const root = temp();
    const good = path.join(root, 'GOOD');
    const tagErr = await cloneError([
      dep({ name: 'GOOD', url, dest: good }),
      dep({ url, dest: path.join(root, 'CODE'), ref: { kind: 'tag', name: 'v9' } }),
    ]);
    expect(tagErr.message).toBe(`git dependency CODE: ${url} has no tag 'v9'; its tags: v1`);
    expect(existsSync(good)).toBe(false);
    const branchErr = await cloneError([
      dep({ url, dest: path.join(root, 'B'), ref: { kind: 'branch', name: 'nope' } }),
    ]);
    expect(branchErr.message).toBe(`git dependency CODE: ${url} has no branch 'nope'; its branches: dev, main`);
    expect(readdirSync(root)).toEqual([]);
  });

  it('a commit that is not there: removes every clone it made, and the folders git made for them', async () => {
    const { url } = makeRepo();
    const root = temp();
    const err = await cloneError([
      dep({ name: 'FIRST', url, dest: path.join(root, 'FIRST') }),
      dep({ url, dest: path.join(root, 'deps', 'src', 'CODE'), ref: { kind: 'hash', name: 'deadbeef' } }),
    ]);
    expect(err.message).toMatch(/^git dependency CODE: .* has no commit 'deadbeef': git rev-parse exited with 1$/);
    expect(readdirSync(root)).toEqual([]);
  });

  it('says what git said when the remote cannot be reached', async () => {
    const url = path.join(temp(), 'no-such-repo');
    const err = await cloneError([dep({ url, dest: path.join(temp(), 'CODE') })]);
    expect(err.message).toMatch(
      new RegExp(
        `^git dependency CODE: cannot reach ${url}: git ls-remote exited with 128:\\n  fatal: .*does not appear to be a git repository`,
      ),
    );
  });

  it('never passes a url or ref that git would read as an option', async () => {
    const marker = path.join(temp(), 'ran');
    const err = await cloneError([dep({ url: `--upload-pack=touch ${marker}`, dest: path.join(temp(), 'CODE') })]);
    expect(err.message).toMatch(/the url '--upload-pack=.*' starts with '-'; git would read it as an option/);
    expect(existsSync(marker)).toBe(false);
    const { url } = makeRepo();
    const refErr = await cloneError([
      dep({ url, dest: path.join(temp(), 'C'), ref: { kind: 'branch', name: '--orphan' } }),
    ]);
    expect(refErr.message).toMatch(/the branch '--orphan' starts with '-'/);
  });
});

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
