/**
 * The only module of the conductor that imports execa: parameter generators (executables and
 * Python), and the scheduler commands (`sbatch`, `squeue`, `flux batch`, ...). Never throws for a
 * process that fails: callers turn each outcome into their own error.
 */
import { open } from 'node:fs/promises';

/**
 * execa (with cross-spawn, isexe and its own ~60 modules) loaded at the first process started,
 * not with its importers: `maestro run` imports this module through the spec's loader (git
 * dependencies, Merlin samples) and the allocations, yet most runs start no process here.
 */
const loadExeca = () => import('execa');

export interface ProcessRequest {
  readonly cwd: string;
  /** Added to this process's environment (the whole environment with `inheritEnv: false`). */
  readonly env?: Readonly<Record<string, string>>;
  /** @default true */
  readonly inheritEnv?: boolean;
  /** Written to stdin, then closed; without it stdin is /dev/null. */
  readonly input?: string;
  /** Killed (and reported `killed`) after this long. */
  readonly timeoutMs?: number;
}

export type ProcessOutcome =
  | { readonly kind: 'exited'; readonly exitCode: number; readonly stdout: string; readonly stderr: string }
  /** `timedOut`: killed because it ran past `timeoutMs`. */
  | { readonly kind: 'killed'; readonly signal: string; readonly stderr: string; readonly timedOut: boolean }
  /** `errorCode` is Node's: ENOENT (no such command or interpreter), EACCES, ... */
  | { readonly kind: 'not-started'; readonly errorCode: string | undefined; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

/** Generators print parameters, not data sets: more than this on stdout is a mistake. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export async function runProcess(
  command: string,
  args: readonly string[],
  request: ProcessRequest,
): Promise<ProcessOutcome> {
  const { execa, ExecaError } = await loadExeca();
  try {
    const result = await execa(command, args, {
      cwd: request.cwd,
      env: request.env ?? {},
      extendEnv: request.inheritEnv ?? true,
      ...(request.input === undefined ? { stdin: 'ignore' as const } : { input: request.input }),
      maxBuffer: MAX_OUTPUT_BYTES,
      ...(request.timeoutMs === undefined ? {} : { timeout: request.timeoutMs }),
    });
    return { kind: 'exited', exitCode: 0, stdout: result.stdout, stderr: result.stderr };
  } catch (err) {
    if (!(err instanceof ExecaError)) throw err;
    const stderr = typeof err.stderr === 'string' ? err.stderr : '';
    if (err.isMaxBuffer) return { kind: 'failed', message: `printed more than ${MAX_OUTPUT_BYTES} bytes` };
    if (err.exitCode !== undefined) {
      const stdout = typeof err.stdout === 'string' ? err.stdout : '';
      return { kind: 'exited', exitCode: err.exitCode, stdout, stderr };
    }
    if (err.signal !== undefined) return { kind: 'killed', signal: err.signal, stderr, timedOut: err.timedOut };
    return { kind: 'not-started', errorCode: err.code, message: err.originalMessage ?? err.shortMessage };
  }
}

export interface DetachedRequest {
  readonly cwd: string;
  /** The whole environment of the process. */
  readonly env: Readonly<Record<string, string>>;
  /** stdout and stderr go to this file (appended). */
  readonly output: string;
}

/**
 * Starts a process that outlives this one: its own session and process group (so one signal to
 * the group reaches it all), stdin closed, output to a file. Returns its pid, or throws.
 */
export async function startDetached(
  command: string,
  args: readonly string[],
  request: DetachedRequest,
): Promise<number> {
  const { execa } = await loadExeca();
  const out = await open(request.output, 'a');
  try {
    const child = execa(command, args, {
      cwd: request.cwd,
      env: request.env,
      extendEnv: false,
      detached: true,
      stdin: 'ignore',
      stdout: out.fd as 3,
      stderr: out.fd as 3,
      reject: false,
      cleanup: false,
      buffer: false,
    });
    const pid = child.pid;
    if (pid === undefined) {
      const r = await child;
      throw new Error(`cannot start ${command}: ${r.message}`);
    }
    child.unref();
    void child.catch(() => undefined);
    return pid;
  } finally {
    await out.close();
  }
}
