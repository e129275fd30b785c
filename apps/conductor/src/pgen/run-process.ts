/**
 * The only place in the pgen module that starts processes (executable and Python generators).
 * Never throws for a process that fails: the caller turns each outcome into a PgenError.
 */
import { execa, ExecaError } from 'execa';

export interface ProcessRequest {
  readonly cwd: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Written to stdin, then closed; without it stdin is /dev/null. */
  readonly input?: string;
}

export type ProcessOutcome =
  | { readonly kind: 'exited'; readonly exitCode: number; readonly stdout: string; readonly stderr: string }
  | { readonly kind: 'killed'; readonly signal: string; readonly stderr: string }
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
  try {
    const result = await execa(command, args, {
      cwd: request.cwd,
      env: request.env ?? {},
      ...(request.input === undefined ? { stdin: 'ignore' as const } : { input: request.input }),
      maxBuffer: MAX_OUTPUT_BYTES,
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
    if (err.signal !== undefined) return { kind: 'killed', signal: err.signal, stderr };
    return { kind: 'not-started', errorCode: err.code, message: err.originalMessage ?? err.shortMessage };
  }
}
