/**
 * `env:` tokens: variables and labels (resolved fully, so chains of any depth work), path and
 * git dependencies, `$(OUTPUT_PATH)` and `$(SPECROOT)`.
 */
import path from 'node:path';
import type { KeyPath } from './load-yaml.js';
import { sampleSettings } from './merlin-samples.js';
import { merlinStudyTokens } from './merlin-tokens.js';
import type { Study } from './study.js';
import { replaceTokens } from './tokens.js';

export interface EnvironmentPlaces {
  /** Absolute study root: `$(OUTPUT_PATH)`. */
  readonly root: string;
  /** Absolute folder of the spec file: `$(SPECROOT)`. */
  readonly specRoot: string;
  /** Absolute working directory; relative dependency paths resolve against it, as in Maestro. */
  readonly cwd: string;
  /**
   * When and from which file the study runs: with it, Merlin's study-wide tokens
   * (`$(MERLIN_INFO)`, `$(MERLIN_TIMESTAMP)`, `$(MERLIN_RETRY)`, ...; merlin-tokens.ts) resolve
   * like `$(OUTPUT_PATH)`, in variables too. A variable of the same name wins, as before.
   */
  readonly merlin?: { readonly timestamp: string; readonly specFile: string } | undefined;
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
  const fixed = new Map<string, string>([
    ['OUTPUT_PATH', places.root],
    ['SPECROOT', places.specRoot],
  ]);
  if (places.merlin) {
    const declared = new Set(study.variables.map((v) => v.name));
    const merlin = merlinStudyTokens({ root: places.root, ...places.merlin });
    // Merlin's study-level sample tokens: the vector becomes the label tokens, which each
    // sample instance then substitutes (so a step using it is a sample step, as in Merlin).
    const labels = sampleSettings(study)?.labels ?? [];
    merlin.set('MERLIN_SAMPLE_VECTOR', labels.map((l) => `$(${l})`).join(' '));
    merlin.set('MERLIN_SAMPLE_NAMES', labels.join(' '));
    for (const [name, value] of merlin) if (!declared.has(name)) fixed.set(name, value);
  }
  const lookup = envResolver(study, fixed, places.cwd);
  const fill = (text: string): string => replaceTokens(text, lookup);
  const tokens = new Map(fixed);
  for (const v of study.variables) tokens.set(v.name, lookup(v.name)!);
  const paths = study.pathDependencies.map((d, i): ResolvedPathDependency => {
    const resolved = lookup(d.name)!;
    tokens.set(d.name, resolved);
    return { name: d.name, path: resolved, at: ['env', 'dependencies', 'paths', i, 'path'] };
  });
  const git = study.gitDependencies.map((d, i): ResolvedGitDependency => {
    const dest = lookup(d.name)!;
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
  // OUTPUT_PATH cannot use a dependency: a dependency's path may be $(OUTPUT_PATH).
  const lookup = envResolver(study, new Map([['SPECROOT', options.specRoot]]), undefined);
  const base =
    study.outputPath === undefined ? options.cwd : path.resolve(options.cwd, replaceTokens(study.outputPath, lookup));
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

/**
 * The final text of each env token, resolved on first use: `fixed` ones as given, a variable or
 * label its value with its own tokens resolved, and (with `cwd`) a path dependency its absolute
 * path, a git dependency `<path>/<name>`, their paths resolved the same way. Maestro applies a
 * step's labels first, then its dependencies, then its variables (StudyEnvironment
 * .apply_environment), so a label may hold `$(DEPENDENCY)` as well as `$(VARIABLE)`; resolving
 * every token fully gives those results, and also resolves what Maestro's one pass per kind
 * leaves as text (docs/differences-from-maestro.md). Parse refused loops; a token met again
 * while it is being resolved is left as it is.
 */
function envResolver(
  study: Study,
  fixed: ReadonlyMap<string, string>,
  cwd: string | undefined,
): (name: string) => string | undefined {
  const sources = new Map<string, (fill: (text: string) => string) => string>();
  for (const v of study.variables) sources.set(v.name, (fill) => fill(v.value));
  if (cwd !== undefined) {
    for (const d of study.pathDependencies) sources.set(d.name, (fill) => path.resolve(cwd, fill(d.path)));
    for (const d of study.gitDependencies) {
      sources.set(d.name, (fill) => path.join(path.resolve(cwd, fill(d.path)), d.name));
    }
  }
  const done = new Map<string, string>();
  const active = new Set<string>();
  const lookup = (name: string): string | undefined => {
    const known = fixed.get(name) ?? done.get(name);
    if (known !== undefined) return known;
    const source = sources.get(name);
    if (source === undefined || active.has(name)) return undefined;
    active.add(name);
    const value = source(fill);
    active.delete(name);
    done.set(name, value);
    return value;
  };
  const fill = (text: string): string => replaceTokens(text, lookup);
  return lookup;
}
