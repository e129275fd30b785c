/**
 * `env:` tokens: variables and labels (resolved fully, so chains of any depth work), path and
 * git dependencies, `$(OUTPUT_PATH)` and `$(SPECROOT)`.
 */
import path from 'node:path';
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
  const tokens = new Map<string, string>([
    ['OUTPUT_PATH', places.root],
    ['SPECROOT', places.specRoot],
  ]);
  const resolveVariables = variableResolver(study, tokens);
  for (const v of study.variables) tokens.set(v.name, resolveVariables(v.value));
  for (const d of study.pathDependencies) {
    tokens.set(
      d.name,
      path.resolve(
        places.cwd,
        replaceTokens(d.path, (n) => tokens.get(n)),
      ),
    );
  }
  for (const d of study.gitDependencies) {
    const base = path.resolve(
      places.cwd,
      replaceTokens(d.path, (n) => tokens.get(n)),
    );
    tokens.set(d.name, path.join(base, d.name));
  }
  return tokens;
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
