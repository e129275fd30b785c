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
  const pos = study.positions.find(path);
  return { code, file: study.file, line: pos?.line, col: pos?.col, path: formatPath(path), message, allowed };
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
    this.errors.push(this.make(code, path, message, allowed, atKey));
  }

  warn(code: SpecErrorCode, path: KeyPath, message: string, allowed?: string, atKey = false): void {
    this.warnings.push(this.make(code, path, message, allowed, atKey));
  }

  /** Throws every error gathered so far, sorted by place in the file. */
  throwIfAny(): void {
    if (this.errors.length === 0) return;
    const sorted = [...this.errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    throw new SpecError(sorted);
  }

  private make(
    code: SpecErrorCode,
    path: KeyPath,
    message: string,
    allowed: string | undefined,
    atKey: boolean,
  ): SpecProblem {
    const pos = atKey ? this.positions?.findKey(path) : this.positions?.find(path);
    return { code, file: this.file, line: pos?.line, col: pos?.col, path: formatPath(path), message, allowed };
  }
}
