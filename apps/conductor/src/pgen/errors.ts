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

/** The last `count` non-blank lines of `text`, each indented, for quoting process output. */
export function quoteTail(text: string, count: number): string {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const shown = lines.slice(-count);
  const skipped = lines.length - shown.length;
  return [...(skipped > 0 ? [`  ... (${skipped} earlier lines)`] : []), ...shown.map((l) => `  ${l}`)].join('\n');
}
