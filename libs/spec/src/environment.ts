/**
 * `env:` tokens: variables and labels (resolved fully, so chains of any depth work), path and
 * git dependencies, `$(OUTPUT_PATH)` and `$(SPECROOT)`.
 */
import path from 'node:path';
import type { KeyPath } from './load-yaml.js';
import type { Study } from './parse-study.js';
import { replaceTokens } from './tokens.js';

export interface EnvironmentPlaces {
  /** Absolute study root: `$(OUTPUT_PATH)`. */
  readonly root: string;
  /** Absolute folder of the spec file: `$(SPECROOT)`. */
  readonly specRoot: string;
  /** Absolute working directory; relative dependency paths resolve against it, as in Maestro. */
  readonly cwd: string;
}

/** Every env token of the study and its final text. */
export function resolveEnvironment(study: Study, places: EnvironmentPlaces): Map<string, string> {
  return resolveAll(study, places).tokens;
}

/** A `dependencies.paths` entry with its tokens replaced: the path must exist when a study is set up. */
export interface ResolvedPathDependency {
  readonly name: string;
  /** Absolute (relative paths are taken from the working directory, as in Maestro). */
  readonly path: string;
  /** Where the entry's `path` is written, for problems. */
  readonly at: KeyPath;
}

/** A `dependencies.git` entry with its tokens replaced: what `maestro run` clones, and where. */
export interface ResolvedGitDependency {
  readonly name: string;
  /** As git takes it; a relative local path is relative to the working directory. */
  readonly url: string;
  /** Absolute `<path>/<name>`: the folder the repository is cloned into, and `$(name)`. */
  readonly dest: string;
  /** What to check out after the clone; undefined: the remote's default branch. */
  readonly ref: { readonly kind: 'tag' | 'hash' | 'branch'; readonly name: string } | undefined;
  /** Where the entry is written, for problems. */
  readonly at: KeyPath;
}

export interface ResolvedDependencies {
  readonly paths: readonly ResolvedPathDependency[];
  readonly git: readonly ResolvedGitDependency[];
}

/**
 * The study's dependencies with every env token replaced, `$(OUTPUT_PATH)` and `$(SPECROOT)`
 * included (Maestro substitutes the environment into a git dependency's `path` and `url` before
 * it clones). Checking and cloning them is I/O: the app does it.
 */
export function resolveDependencies(study: Study, places: EnvironmentPlaces): ResolvedDependencies {
  return resolveAll(study, places).dependencies;
}

function resolveAll(
  study: Study,
  places: EnvironmentPlaces,
): { tokens: Map<string, string>; dependencies: ResolvedDependencies } {
  const tokens = new Map<string, string>([
    ['OUTPUT_PATH', places.root],
    ['SPECROOT', places.specRoot],
  ]);
  const resolveVariables = variableResolver(study, tokens);
  for (const v of study.variables) tokens.set(v.name, resolveVariables(v.value));
  const fill = (text: string): string => replaceTokens(text, (n) => tokens.get(n));
  const paths = study.pathDependencies.map((d, i): ResolvedPathDependency => {
    const resolved = path.resolve(places.cwd, fill(d.path));
    tokens.set(d.name, resolved);
    return { name: d.name, path: resolved, at: ['env', 'dependencies', 'paths', i, 'path'] };
  });
  const git = study.gitDependencies.map((d, i): ResolvedGitDependency => {
    const dest = path.join(path.resolve(places.cwd, fill(d.path)), d.name);
    tokens.set(d.name, dest);
    // Empty means none, as in Maestro; parseStudy allows at most one of the three.
    const ref = d.tag
      ? ({ kind: 'tag', name: d.tag } as const)
      : d.hash
        ? ({ kind: 'hash', name: d.hash } as const)
        : d.branch
          ? ({ kind: 'branch', name: d.branch } as const)
          : undefined;
    return { name: d.name, url: fill(d.url), dest, ref, at: ['env', 'dependencies', 'git', i] };
  });
  return { tokens, dependencies: { paths, git } };
}

/**
 * Where a study without `-o` goes: `<OUTPUT_PATH or cwd>/<name>_<YYYYMMDD-HHMMSS>`, the
 * OUTPUT_PATH variable resolved against the working directory (as Maestro does).
 */
export function defaultStudyRoot(study: Study, options: { cwd: string; specRoot: string; now: Date }): string {
  const tokens = new Map([['SPECROOT', options.specRoot]]);
  const resolve = variableResolver(study, tokens);
  const base = study.outputPath === undefined ? options.cwd : path.resolve(options.cwd, resolve(study.outputPath));
  return path.join(base, `${studyDirName(study.name)}_${timestampForPath(options.now)}`);
}

/** The study name as Maestro puts it in folder names: spaces to `_`, unsafe characters dropped. */
export function studyDirName(name: string): string {
  return name.replace(/ /g, '_').replace(/[^-_.()A-Za-z0-9]/g, '');
}

/** `YYYYMMDD-HHMMSS` in local time, as Maestro's `time.strftime('%Y%m%d-%H%M%S')`. */
export function timestampForPath(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Resolves `$(VAR)` inside values recursively; parse already refused loops. */
function variableResolver(study: Study, fixed: ReadonlyMap<string, string>): (text: string) => string {
  const raw = new Map(study.variables.map((v) => [v.name, v.value]));
  const done = new Map<string, string>();
  const resolve = (text: string, depth: number): string =>
    replaceTokens(text, (name) => {
      const f = fixed.get(name);
      if (f !== undefined) return f;
      const cached = done.get(name);
      if (cached !== undefined) return cached;
      const value = raw.get(name);
      if (value === undefined || depth > raw.size) return undefined;
      const resolved = resolve(value, depth + 1);
      done.set(name, resolved);
      return resolved;
    });
  return (text) => resolve(text, 0);
}
