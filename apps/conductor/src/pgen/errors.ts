/** Codes of {@link PgenError}: callers branch on these, never on message text. */
export const PgenErrorCode = {
  /** The generator ran and failed: it threw or raised, exited non-zero, or could not be started. */
  Failed: 'PGEN_FAILED',
  /**
   * The generator gave nothing usable: no generator function in the file, output that is not
   * JSON, or JSON of the wrong shape.
   */
  BadOutput: 'PGEN_BAD_OUTPUT',
  /** The file does not exist, or is neither a known kind of generator nor executable. */
  NotFound: 'PGEN_NOT_FOUND',
  /** A Python generator was given but `python3` is not on PATH. */
  PythonMissing: 'PGEN_PYTHON_MISSING',
  /** A `--pargs` item is not `KEY:VALUE`. */
  BadPargs: 'PGEN_BAD_PARGS',
  /** The generator ran past `--pgen-timeout`. */
  TimedOut: 'PGEN_TIMED_OUT',
} as const;
export type PgenErrorCode = (typeof PgenErrorCode)[keyof typeof PgenErrorCode];

/** A parameter generator (`--pgen`) could not give parameters. The message names the file. */
export class PgenError extends Error {
  override readonly name = 'PgenError';
  readonly code: PgenErrorCode;
  /** The generator file as the user named it; undefined for `--pargs` problems. */
  readonly file: string | undefined;
  constructor(code: PgenErrorCode, file: string | undefined, message: string, options?: ErrorOptions) {
    super(file === undefined ? message : `pgen ${file}: ${message}`, options);
    this.code = code;
    this.file = file;
  }
}

export function isPgenError(err: unknown): err is PgenError {
  return err instanceof PgenError;
}

/** The message of a generator that ran past its time: what happened and what to do. */
export function timedOutMessage(timeoutMs: number, what: string): string {
  return `did not finish within ${formatMs(timeoutMs)}, so ${what}; if it needs longer, give --pgen-timeout (e.g. --pgen-timeout 1h)`;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The last `count` non-blank lines of `text`, each indented, for quoting process output. */
export function quoteTail(text: string, count: number): string {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const shown = lines.slice(-count);
  const skipped = lines.length - shown.length;
  return [...(skipped > 0 ? [`  ... (${skipped} earlier lines)`] : []), ...shown.map((l) => `  ${l}`)].join('\n');
}
