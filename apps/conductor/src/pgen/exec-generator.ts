/**
 * Kind (b): any executable. It gets the pargs as `KEY:VALUE` arguments and the study in
 * MAESTRO_* variables, and prints `{ KEY: { values: [...], label?, name? } }` as JSON on stdout.
 */
import { open } from 'node:fs/promises';
import type { ParameterDef } from '@maestro/spec';
import { PGEN_TIMEOUT_MS, type PgenContext } from './context.js';
import { PgenError, PgenErrorCode, quoteTail, timedOutMessage } from './errors.js';
import { toParameterDefs } from './generator-output.js';
import { JsonSyntaxError, parsePyJson } from './py-json.js';
import { runProcess } from '../exec/index.js';

const STDERR_LINES = 12;

export async function runExecutableGenerator(
  file: string,
  path: string,
  pargs: Readonly<Record<string, string>>,
  ctx: PgenContext,
): Promise<ParameterDef[]> {
  const args = Object.entries(pargs).map(([key, value]) => `${key}:${value}`);
  const outcome = await runProcess(path, args, {
    cwd: ctx.cwd,
    env: {
      MAESTRO_OUTPUT_PATH: ctx.outputPath,
      MAESTRO_SPECROOT: ctx.specRoot,
      MAESTRO_PARGS: JSON.stringify(pargs),
      MAESTRO_ENV: JSON.stringify(ctx.env),
    },
    timeoutMs: ctx.timeoutMs ?? PGEN_TIMEOUT_MS,
  });
  switch (outcome.kind) {
    case 'not-started':
      throw new PgenError(PgenErrorCode.Failed, file, await whyNotStarted(path, outcome.errorCode, outcome.message));
    case 'killed':
      if (outcome.timedOut) {
        const why = timedOutMessage(ctx.timeoutMs ?? PGEN_TIMEOUT_MS, 'it was stopped');
        throw new PgenError(PgenErrorCode.TimedOut, file, `${why}${stderrTail(outcome.stderr)}`);
      }
      throw new PgenError(PgenErrorCode.Failed, file, `was killed by ${outcome.signal}${stderrTail(outcome.stderr)}`);
    case 'failed':
      throw new PgenError(PgenErrorCode.Failed, file, outcome.message);
    case 'exited':
      break;
    default: {
      const never: never = outcome;
      return never;
    }
  }
  if (outcome.exitCode !== 0) {
    throw new PgenError(
      PgenErrorCode.Failed,
      file,
      `exited with code ${outcome.exitCode}${stderrTail(outcome.stderr) || ' (nothing on stderr)'}`,
    );
  }
  const stdout = outcome.stdout.trim();
  if (stdout === '') {
    throw new PgenError(
      PgenErrorCode.BadOutput,
      file,
      'printed nothing on stdout; it must print JSON like {"KEY": {"values": [1, 2]}}',
    );
  }
  let json;
  try {
    json = parsePyJson(stdout);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new PgenError(
      PgenErrorCode.BadOutput,
      file,
      `printed invalid JSON on stdout (${err.message}); diagnostics belong on stderr. It printed:\n${quoteHead(stdout)}`,
      { cause: err },
    );
  }
  const { defs, problems } = toParameterDefs(json);
  if (problems.length > 0) {
    throw new PgenError(
      PgenErrorCode.BadOutput,
      file,
      `printed unusable parameters:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return defs;
}

async function whyNotStarted(path: string, errorCode: string | undefined, message: string): Promise<string> {
  if (errorCode === 'ENOENT') {
    const interpreter = await readShebang(path);
    return interpreter
      ? `could not start: its interpreter ${interpreter} (from the #! line) was not found`
      : `could not start: ${message}`;
  }
  if (errorCode === 'EACCES') return 'could not start: permission denied (is it on a filesystem mounted noexec?)';
  if (errorCode === 'ENOEXEC')
    return 'could not start: not a program and no #! line; start a script with e.g. #!/bin/sh';
  return `could not start: ${message}`;
}

async function readShebang(path: string): Promise<string | undefined> {
  try {
    const handle = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(256), 0, 256, 0);
      const first = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
      return first.startsWith('#!') ? first.slice(2).trim().split(/\s+/)[0] : undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

function stderrTail(stderr: string): string {
  return stderr.trim() ? `; stderr ends with:\n${quoteTail(stderr, STDERR_LINES)}` : '';
}

function quoteHead(text: string): string {
  const lines = text.split(/\r?\n/);
  const shown = lines.slice(0, 5).map((l) => `  ${l.length > 200 ? `${l.slice(0, 200)}...` : l}`);
  return [...shown, ...(lines.length > 5 ? [`  ... (${lines.length - 5} more lines)`] : [])].join('\n');
}
