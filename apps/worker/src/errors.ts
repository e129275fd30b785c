import { getSystemErrorMap } from 'node:util';

/**
 * Errors of the worker process. Apps branch on `code`, never on message text. Errors about a
 * step never leave the process as exceptions: they become a StepResult (step-event.ts).
 */
export const WorkerErrorCode = {
  /** Options or environment are wrong; every problem is listed. */
  ConfigInvalid: 'WORKER_CONFIG_INVALID',
  /** A job is not a StepJob this worker can run (malformed, foreign, another protocol version). */
  JobRejected: 'WORKER_JOB_REJECTED',
  /** The step's workspace or its files cannot be created or written. */
  Workspace: 'WORKER_WORKSPACE',
  /** The helper that kills a dead worker's steps could not be started. */
  Reaper: 'WORKER_REAPER',
} as const;
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

export class WorkerError extends Error {
  override readonly name: string = 'WorkerError';
  readonly code: WorkerErrorCode;
  constructor(code: WorkerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Every problem of the configuration at once, each as `path: what is wrong`. */
export class ConfigError extends WorkerError {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(WorkerErrorCode.ConfigInvalid, `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Turns anything thrown into an Error (GW src/lib.ts `coerceError`). */
export function coerceError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * `CODE (description)` for a system error, e.g. `ENOSPC (no space left on device)`; the plain
 * message for anything else.
 */
export function describeSystemError(err: unknown): string {
  const e = coerceError(err) as NodeJS.ErrnoException;
  if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) {
    const text = typeof e.errno === 'number' ? getSystemErrorMap().get(e.errno)?.[1] : undefined;
    return text ? `${e.code} (${text})` : e.code;
  }
  return e.message;
}
