/**
 * `env.dependencies` on disk, when a study is set up (Maestro's `acquire()`, reference §1.2):
 * every `paths` entry must exist, and every `git` entry is cloned into `<path>/<name>` and its
 * tag, hash or branch checked out, before any step is queued. The only module that runs git (via
 * run-process.ts). It never writes into a folder it did not make: a destination that exists and
 * is not empty is refused, and a failed setup removes only the clones it made itself.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  resolveDependencies,
  SpecError,
  SpecErrorCode,
  studyProblem,
  type EnvironmentPlaces,
  type ResolvedGitDependency,
  type SpecProblem,
  type Study,
} from '@maestro/spec';
import { runProcess, type ProcessOutcome } from '../exec/index.js';

export class GitDependencyError extends Error {
  override readonly name = 'GitDependencyError';
}

/**
 * Throws SpecError listing every `dependencies.paths` entry whose path does not exist, each at
 * its place in the spec file.
 */
export async function checkPathDependencies(study: Study, places: EnvironmentPlaces): Promise<void> {
  const problems = await pathDependencyProblems(study, places);
  if (problems.length > 0) throw new SpecError(problems);
}

/**
 * Every `dependencies.paths` entry whose path does not exist, each at its place in the spec file.
 * In a study read with problems, a dependency whose path uses a name left out for its own problem
 * (`$(BROKEN)/inputs`) is not looked for: it could not be right.
 */
export async function pathDependencyProblems(study: Study, places: EnvironmentPlaces): Promise<SpecProblem[]> {
  const problems: SpecProblem[] = [];
  for (const d of resolveDependencies(study, places).paths) {
    if (study.unusableNames?.has(d.name)) continue;
    const missing = await whyMissing(d.path);
    if (missing === undefined) continue;
    problems.push(
      studyProblem(
        study,
        SpecErrorCode.MissingPath,
        d.at,
        `path dependency ${d.name}: ${d.path} ${missing}`,
        `allowed: a path that exists (a relative one is taken from the working directory, ${places.cwd})`,
      ),
    );
  }
  return problems;
}

export interface CloneOptions {
  /** Where git runs: a relative local `url` is taken from here. */
  readonly cwd: string;
  /** Whether git may ask for a password on the terminal; otherwise it fails instead of waiting. */
  readonly interactive: boolean;
  /** One line per step taken, for the user. */
  readonly progress: (line: string) => void;
}

/**
 * Clones every git dependency into its `dest` and checks out its ref, as Maestro does: first each
 * destination must be free and each remote reachable with its tag or branch (so a typo stops the
 * run before anything is cloned), then `git clone`, then `git checkout`. Throws
 * GitDependencyError, with the tail of git's own message, and then no clone of this call is left.
 */
export async function cloneGitDependencies(
  deps: readonly ResolvedGitDependency[],
  options: CloneOptions,
): Promise<void> {
  for (const d of deps) await checkDestination(d);
  for (const d of deps) await checkRemote(d, options);
  const made: { dest: string; existed: boolean }[] = [];
  try {
    for (const d of deps) {
      options.progress(`Cloning git dependency ${d.name} (${d.url}${refText(d)}) into ${d.dest}`);
      const existed = (await whyMissing(d.dest)) === undefined;
      // git makes the missing folders above the clone too: they go with it.
      made.push({ dest: existed ? d.dest : await topMissing(d.dest), existed });
      await cloneOne(d, options);
    }
  } catch (err) {
    for (const m of made.reverse()) await removeClone(m.dest, m.existed);
    throw err;
  }
}

/** `, tag v1.0` or nothing: for messages. */
export function refText(d: ResolvedGitDependency): string {
  return d.ref ? `, ${d.ref.kind} ${d.ref.name}` : '';
}

/** The destination must be free: absent, or an empty folder (git clones into one; nothing is overwritten). */
async function checkDestination(d: ResolvedGitDependency): Promise<void> {
  // Arguments that start with '-' would reach git as options (`--upload-pack=...` runs a command).
  for (const [what, value] of [
    ['url', d.url],
    [d.ref?.kind ?? 'ref', d.ref?.name ?? ''],
  ] as const) {
    if (value.startsWith('-')) {
      throw new GitDependencyError(
        `git dependency ${d.name}: the ${what} '${value}' starts with '-'; git would read it as an option`,
      );
    }
  }
  const info = await stat(d.dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new GitDependencyError(`git dependency ${d.name}: cannot use ${d.dest} (${err.code ?? err.message})`);
  });
  if (!info) return;
  const empty = info.isDirectory() && (await readdir(d.dest)).length === 0;
  if (empty) return;
  throw new GitDependencyError(
    `git dependency ${d.name}: ${d.dest} already exists and is not an empty folder; maestro clones each git dependency afresh, as Maestro does, and never writes into or removes a folder it did not make. Move it away, or give the dependency a path: where nothing is yet (e.g. $(OUTPUT_PATH), new for each study)`,
  );
}

/** `git ls-remote`: the remote answers, and has the tag or branch asked for. */
async function checkRemote(d: ResolvedGitDependency, options: CloneOptions): Promise<void> {
  const out = await git(d, ['ls-remote', '--', d.url], options.cwd, options, `cannot reach ${d.url}`);
  if (!d.ref || d.ref.kind === 'hash') return; // a commit can only be looked for in a clone
  const prefix = d.ref.kind === 'tag' ? 'refs/tags/' : 'refs/heads/';
  const names = new Set<string>();
  for (const line of out.split('\n')) {
    const ref = line.split('\t')[1];
    if (ref?.startsWith(prefix)) names.add(ref.slice(prefix.length).replace(/\^\{\}$/, ''));
  }
  if (names.has(d.ref.name)) return;
  const plural = d.ref.kind === 'tag' ? 'tags' : 'branches';
  const known = [...names].sort();
  const list = known.length === 0 ? `it has no ${plural}` : `its ${plural}: ${shortList(known)}`;
  throw new GitDependencyError(`git dependency ${d.name}: ${d.url} has no ${d.ref.kind} '${d.ref.name}'; ${list}`);
}

async function cloneOne(d: ResolvedGitDependency, options: CloneOptions): Promise<void> {
  await git(d, ['clone', '--quiet', '--', d.url, d.dest], options.cwd, options, `cannot clone ${d.url}`);
  const ref = d.ref;
  if (!ref) return;
  const failed = `cannot check out ${ref.kind} '${ref.name}'`;
  switch (ref.kind) {
    case 'tag':
      await git(d, ['checkout', '--quiet', '--detach', `refs/tags/${ref.name}`], d.dest, options, failed);
      return;
    case 'hash':
      await git(
        d,
        ['rev-parse', '--verify', '--quiet', `${ref.name}^{commit}`],
        d.dest,
        options,
        `${d.url} has no commit '${ref.name}'`,
      );
      await git(d, ['checkout', '--quiet', '--detach', ref.name], d.dest, options, failed);
      return;
    case 'branch':
      // `--` makes git read the name as a branch, never as a file to restore.
      await git(d, ['checkout', '--quiet', ref.name, '--'], d.dest, options, failed);
      return;
    default: {
      const never: never = ref.kind;
      throw new Error(`unknown ref kind ${String(never)}`);
    }
  }
}

/** Runs git; returns its stdout, or throws GitDependencyError saying `what` failed and why. */
async function git(
  d: ResolvedGitDependency,
  args: readonly string[],
  cwd: string,
  options: CloneOptions,
  what: string,
): Promise<string> {
  const outcome = await runProcess('git', args, {
    cwd,
    env: options.interactive ? {} : { GIT_TERMINAL_PROMPT: '0' },
  });
  if (outcome.kind === 'exited' && outcome.exitCode === 0) return outcome.stdout;
  throw new GitDependencyError(`git dependency ${d.name}: ${what}: ${describeFailure(args[0]!, outcome)}`);
}

function describeFailure(command: string, outcome: ProcessOutcome): string {
  switch (outcome.kind) {
    case 'not-started':
      return outcome.errorCode === 'ENOENT'
        ? 'git is not installed (or not on PATH); install git, or remove the git dependency'
        : `git did not start: ${outcome.message}`;
    case 'exited':
      return `git ${command} exited with ${outcome.exitCode}${stderrTail(outcome.stderr)}`;
    case 'killed':
      return `git ${command} was killed by ${outcome.signal}${stderrTail(outcome.stderr)}`;
    case 'failed':
      return `git ${command} failed: ${outcome.message}`;
    default: {
      const never: never = outcome;
      return String(never);
    }
  }
}

/** The last lines git wrote to stderr, where it says what went wrong. */
function stderrTail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.length === 0 ? '' : `:\n  ${lines.slice(-TAIL_LINES).join('\n  ')}`;
}

const TAIL_LINES = 5;

function shortList(names: readonly string[]): string {
  const SHOWN = 10;
  return names.length <= SHOWN
    ? names.join(', ')
    : `${names.slice(0, SHOWN).join(', ')} and ${names.length - SHOWN} more`;
}

/** Undoes one clone of a failed setup: the folders it made, or the contents of the empty one it found. */
async function removeClone(dest: string, existed: boolean): Promise<void> {
  if (!existed) {
    await rm(dest, { recursive: true, force: true });
    return;
  }
  const entries = await readdir(dest).catch(() => []);
  for (const e of entries) await rm(path.join(dest, e), { recursive: true, force: true });
}

/** The highest folder of `p`'s path (`p` itself at least) that does not exist yet. */
async function topMissing(p: string): Promise<string> {
  let top = p;
  for (let up = path.dirname(top); up !== top && (await whyMissing(up)) !== undefined; up = path.dirname(up)) top = up;
  return top;
}

/** Why `p` is not there (`does not exist`, or the error met), or undefined if it is. */
async function whyMissing(p: string): Promise<string | undefined> {
  try {
    await stat(p);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
  }
}
