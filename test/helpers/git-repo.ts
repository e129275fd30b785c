/** Real git repositories for the tests of git dependencies (unit and end to end). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Runs git in `cwd` with a throwaway identity; returns its stdout, trimmed. */
export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();

/**
 * A repository in `dir`/origin whose `version` file says where you are: 1 at tag v1 (`first` is
 * that commit), 2 on main, dev on branch dev.
 */
export function makeRepo(dir: string): { url: string; first: string } {
  const url = path.join(dir, 'origin');
  mkdirSync(url);
  git(url, 'init', '--quiet', '-b', 'main');
  const commit = (version: string): void => {
    writeFileSync(path.join(url, 'version'), `${version}\n`);
    git(url, 'add', 'version');
    git(url, 'commit', '--quiet', '-m', `version ${version}`);
  };
  commit('1');
  git(url, 'tag', '-a', 'v1', '-m', 'one');
  const first = git(url, 'rev-parse', 'HEAD');
  commit('2');
  git(url, 'checkout', '--quiet', '-b', 'dev');
  commit('dev');
  git(url, 'checkout', '--quiet', 'main');
  return { url, first };
}
