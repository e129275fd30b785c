import { formatProblem, type SpecProblem } from '@maestro/spec';

/** Writes problems the way compilers do: `FILE:LINE:COL: key.path: what is wrong; what is allowed`. */
export function printProblems(problems: readonly SpecProblem[], write: (line: string) => void): void {
  for (const p of problems) write(formatProblem(p));
}

/** Warnings carry a `warning:` tag after the place, so they cannot be mistaken for errors. */
export function printWarnings(problems: readonly SpecProblem[], write: (line: string) => void): void {
  for (const p of problems) {
    const line = formatProblem({ ...p, path: p.path ? `warning: ${p.path}` : 'warning' });
    write(line);
  }
}
