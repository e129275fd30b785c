/**
 * How long a generator may run by default: a sweep generator that reads a large table or asks a
 * database may take minutes, one that never ends must still end with a message.
 */
export const PGEN_TIMEOUT_MS = 10 * 60_000;

/** What a generator learns about the study it generates parameters for. */
export interface PgenContext {
  /** Absolute study root (Maestro passes it as OUTPUT_PATH). */
  readonly outputPath: string;
  /** Absolute folder of the spec file (SPECROOT). */
  readonly specRoot: string;
  /**
   * The study's env variables, labels and dependencies, fully resolved: name -> text (a Python
   * pgen reads `env.find("NAME").value`). When it lacks OUTPUT_PATH or SPECROOT, Python
   * generators still find those two through `env.find`, as in Maestro.
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Working directory of the generator process, and what a relative generator path is resolved
   * against. JavaScript and TypeScript generators run inside this process, in its own cwd.
   */
  readonly cwd: string;
  /**
   * How long the generator may run (`--pgen-timeout`): a process is then stopped, and a module,
   * which runs inside maestro and cannot be stopped, is given up on.
   * @default PGEN_TIMEOUT_MS (10 minutes)
   */
  readonly timeoutMs?: number | undefined;
}

/** What a JavaScript or TypeScript generator function is called with. */
export interface PgenModuleInput {
  /** The study's env variables, labels and dependencies: name -> text. */
  readonly env: Readonly<Record<string, string>>;
  /** The `--pargs` as KEY -> VALUE text. */
  readonly pargs: Readonly<Record<string, string>>;
  readonly outputPath: string;
  readonly specRoot: string;
}

/**
 * What a JavaScript or TypeScript generator function returns (or resolves to), and what an
 * executable generator prints as JSON: columns of values, combined row by row.
 */
export type PgenModuleOutput = Record<
  string,
  {
    /** One value per row; each becomes text as Python's str() would print it. */
    values: readonly unknown[];
    /** A template with `%%` for the value, or one label per value. Default `KEY.%%`. */
    label?: string | readonly unknown[];
    /** What `$(KEY.name)` gives. Default: the key. */
    name?: string;
  }
>;
