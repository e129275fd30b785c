/** Kind (c): an original Maestro pgen file, run by python3 through our runner script. */
import { fileURLToPath } from 'node:url';
import type { ParameterDef } from '@maestro/spec';
import { PGEN_TIMEOUT_MS, type PgenContext } from './context.js';
import { PgenError, PgenErrorCode, quoteTail, timedOutMessage } from './errors.js';
import { fromPythonRows } from './generator-output.js';
import { runProcess } from '../exec/index.js';

const PYTHON = 'python3';
// ../../python from both src/pgen/*.ts (vitest) and dist/pgen/*.js (compiled).
const RUNNER = fileURLToPath(new URL('../../python/maestro_pgen_runner.py', import.meta.url));
/** Exit codes and stderr marker of maestro_pgen_runner.py (see its header). */
const EXIT_UNUSABLE = 3;
const MARK = 'maestro-pgen: ';
const TRACEBACK_LINES = 12;

export async function runPythonGenerator(
  file: string,
  path: string,
  pargs: Readonly<Record<string, string>>,
  ctx: PgenContext,
): Promise<ParameterDef[]> {
  const request = { pargs, env: ctx.env, outputPath: ctx.outputPath, specRoot: ctx.specRoot };
  // -B: write no __pycache__ beside the user's file or into our package.
  const outcome = await runProcess(PYTHON, ['-B', RUNNER, path], {
    cwd: ctx.cwd,
    input: JSON.stringify(request),
    timeoutMs: ctx.timeoutMs ?? PGEN_TIMEOUT_MS,
  });
  switch (outcome.kind) {
    case 'not-started':
      if (outcome.errorCode === 'ENOENT') {
        throw new PgenError(
          PgenErrorCode.PythonMissing,
          file,
          `${PYTHON} is not on PATH, and a .py parameter generator needs it; install Python 3.6 or newer ` +
            `(or load a module that provides ${PYTHON}), or rewrite the generator as a .js/.ts module`,
        );
      }
      throw new PgenError(PgenErrorCode.Failed, file, `could not start ${PYTHON}: ${outcome.message}`);
    case 'killed':
      if (outcome.timedOut) {
        const why = timedOutMessage(ctx.timeoutMs ?? PGEN_TIMEOUT_MS, `${PYTHON} was stopped`);
        throw new PgenError(PgenErrorCode.TimedOut, file, `${why}${withTail(outcome.stderr)}`);
      }
      throw new PgenError(
        PgenErrorCode.Failed,
        file,
        `${PYTHON} was killed by ${outcome.signal}${withTail(outcome.stderr)}`,
      );
    case 'failed':
      throw new PgenError(PgenErrorCode.Failed, file, `${PYTHON} ${outcome.message}`);
    case 'exited':
      break;
    default: {
      const never: never = outcome;
      return never;
    }
  }
  const { exitCode, stdout, stderr } = outcome;
  if (exitCode === 0) {
    let rows: unknown;
    try {
      rows = JSON.parse(stdout);
    } catch {
      rows = undefined;
    }
    const defs = fromPythonRows(rows);
    if (!defs) {
      // Only a bug in the runner gets here: user output never reaches its stdout.
      throw new PgenError(
        PgenErrorCode.BadOutput,
        file,
        `the pgen runner printed unexpected output:${withTail(stdout)}`,
      );
    }
    return defs;
  }
  const marked = splitAtLastMark(stderr);
  if (exitCode === EXIT_UNUSABLE && marked) {
    throw new PgenError(PgenErrorCode.BadOutput, file, marked.headline);
  }
  const headline = marked?.headline ?? `${PYTHON} exited with code ${exitCode}`;
  const detail = marked ? marked.after : stderr;
  throw new PgenError(PgenErrorCode.Failed, file, `${headline}:\n${quoteTail(detail, TRACEBACK_LINES)}`);
}

function splitAtLastMark(stderr: string): { headline: string; after: string } | undefined {
  const lines = stderr.split(/\r?\n/);
  const at = lines.findLastIndex((line) => line.startsWith(MARK));
  if (at < 0) return undefined;
  return { headline: (lines[at] ?? '').slice(MARK.length), after: lines.slice(at + 1).join('\n') };
}

function withTail(text: string): string {
  return text.trim() ? `:\n${quoteTail(text, TRACEBACK_LINES)}` : '';
}
