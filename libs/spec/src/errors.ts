/** Problem codes: apps branch on these, never on message text. */
export const SpecErrorCode = {
  YamlSyntax: 'SPEC_YAML_SYNTAX',
  YamlTooLarge: 'SPEC_YAML_TOO_LARGE',
  UnknownKey: 'SPEC_UNKNOWN_KEY',
  MissingKey: 'SPEC_MISSING_KEY',
  WrongType: 'SPEC_WRONG_TYPE',
  InvalidValue: 'SPEC_INVALID_VALUE',
  EmptyVariable: 'SPEC_EMPTY_VARIABLE',
  DuplicateName: 'SPEC_DUPLICATE_NAME',
  ParameterLength: 'SPEC_PARAMETER_LENGTH',
  UnknownStep: 'SPEC_UNKNOWN_STEP',
  Cycle: 'SPEC_CYCLE',
  WorkspaceOrder: 'SPEC_WORKSPACE_BEFORE_CREATED',
  UnsafePath: 'SPEC_UNSAFE_PATH',
  /** A name that becomes a folder or file name would be longer than file systems allow. */
  NameTooLong: 'SPEC_NAME_TOO_LONG',
  DuplicateWorkspace: 'SPEC_DUPLICATE_WORKSPACE',
  NoSteps: 'SPEC_NO_STEPS',
  VariableCycle: 'SPEC_VARIABLE_CYCLE',
  TooManyInstances: 'SPEC_TOO_MANY_INSTANCES',
  Parameters: 'SPEC_PARAMETERS',
  /** A `dependencies.paths` entry names a path that does not exist (checked by the app: I/O). */
  MissingPath: 'SPEC_MISSING_PATH',
  /** Merlin samples: the file cannot be read or does not match `column_labels`. */
  Samples: 'SPEC_SAMPLES',
} as const;
export type SpecErrorCode = (typeof SpecErrorCode)[keyof typeof SpecErrorCode];

/** One thing wrong (or suspicious, for warnings) in a study specification. */
export interface SpecProblem {
  readonly code: SpecErrorCode;
  /** The spec file, as the user named it. */
  readonly file?: string | undefined;
  /** 1-based line and column, where the problem has a place in the file. */
  readonly line?: number | undefined;
  readonly col?: number | undefined;
  /** Key path inside the spec, e.g. `study[1].run.depends[0]`. */
  readonly path: string;
  /** What is wrong, naming the bad value. */
  readonly message: string;
  /** What would be accepted instead. */
  readonly allowed?: string | undefined;
}

/** `FILE:LINE:COL: key.path: what is wrong; what is allowed`. */
export function formatProblem(p: SpecProblem): string {
  const where = [p.file, p.line, p.col].filter((x) => x !== undefined).join(':');
  const head = where ? `${where}: ` : '';
  const path = p.path ? `${p.path}: ` : '';
  return `${head}${path}${p.message}${p.allowed ? `; ${p.allowed}` : ''}`;
}

/** Every problem found in a spec, thrown at once so the user can fix them all in one pass. */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  readonly problems: readonly SpecProblem[];
  constructor(problems: readonly SpecProblem[], options?: ErrorOptions) {
    super(problems.map(formatProblem).join('\n'), options);
    this.problems = problems;
  }
  /** The code of the first problem, for callers that handle one kind. */
  get code(): SpecErrorCode | undefined {
    return this.problems[0]?.code;
  }
}

export function isSpecError(err: unknown): err is SpecError {
  return err instanceof SpecError;
}

/** Formats a key path the way problems print it: `study[1].run.depends[0]`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}
