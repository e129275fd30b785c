import { formatPath, SpecError, type SpecErrorCode, type SpecProblem } from './errors.js';
import type { KeyPath, SourcePositions } from './load-yaml.js';

/**
 * One problem located in a parsed study's file: for checks that only the app can make (does a
 * path exist?) after the library has read the spec.
 */
export function studyProblem(
  study: { readonly positions: SourcePositions; readonly file: string | undefined },
  code: SpecErrorCode,
  path: KeyPath,
  message: string,
  allowed?: string,
): SpecProblem {
  return located(study.positions, study.file, code, path, message, allowed, false);
}

/** A problem at `path` (its value, or with `atKey` its key) in `file`. */
function located(
  positions: SourcePositions | undefined,
  file: string | undefined,
  code: SpecErrorCode,
  path: KeyPath,
  message: string,
  allowed: string | undefined,
  atKey: boolean,
): SpecProblem {
  const pos = atKey ? positions?.findKey(path) : positions?.find(path);
  return { code, file, line: pos?.line, col: pos?.col, path: formatPath(path), message, allowed };
}

/** Gathers problems with their file positions, so that all of them are reported at once. */
export class ProblemList {
  readonly errors: SpecProblem[] = [];
  readonly warnings: SpecProblem[] = [];
  constructor(
    private readonly positions: SourcePositions | undefined,
    private readonly file: string | undefined,
  ) {}

  error(code: SpecErrorCode, path: KeyPath, message: string, allowed?: string, atKey = false): void {
    this.errors.push(located(this.positions, this.file, code, path, message, allowed, atKey));
  }

  warn(code: SpecErrorCode, path: KeyPath, message: string, allowed?: string, atKey = false): void {
    this.warnings.push(located(this.positions, this.file, code, path, message, allowed, atKey));
  }

  /** The errors gathered so far, sorted by place in the file. */
  sorted(): SpecProblem[] {
    return sortProblems(this.errors);
  }

  /** Throws every error gathered so far, sorted by place in the file. */
  throwIfAny(): void {
    if (this.errors.length === 0) return;
    throw new SpecError(this.sorted());
  }
}

/** Problems in file order (by line, then column); those without a place first, as given. */
export function sortProblems(problems: readonly SpecProblem[]): SpecProblem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}
