/**
 * The study specification, as Maestro's JSON schema (yamlspecification.json) defines it, plus
 * the keys Merlin adds. Every leaf carries the text that says what is allowed there: it becomes
 * the `; what is allowed` half of a problem.
 *
 * Differences from Maestro's schema are deliberate and listed in docs/differences-from-maestro.md:
 * unknown top-level keys are errors (Maestro ignores them, which hides typos like `studdy:`),
 * and `batch` keys are typed (Maestro passes them through unchecked).
 */
import { z } from 'zod';
import type { PyTimestamp } from './py-values.js';
import { PyFloat } from './py-values.js';

const TOKEN_RE = /^\$\(\w+\)$/;

const text = (allowed: string) => z.string({ error: allowed });
const nonEmptyText = (allowed: string) => z.string({ error: allowed }).min(1, { error: allowed });
const token = z.string().regex(TOKEN_RE);
const flag = (allowed: string) => z.boolean({ error: allowed });

/** An integer >= min, or a `$(NAME)` token filled in per parameter combination. */
const intOrToken = (min: number) => {
  const error = `an integer of at least ${min}, or a $(NAME) token`;
  return z.union(
    [z.number({ error }).int({ error }).min(min, { error }), z.string({ error }).regex(TOKEN_RE, { error })],
    { error },
  );
};

/** A number, written as an int or a float. */
const number = (allowed: string) =>
  z.union([z.number(), z.instanceof(PyFloat).transform((f) => f.value)], { error: allowed });

/** What a variable may hold: non-empty text or a number (Maestro's env.variables schema). */
const VARIABLE_ALLOWED = 'non-empty text or a number';
export const VariableValue = z.union(
  [
    z.string({ error: VARIABLE_ALLOWED }).min(1, { error: VARIABLE_ALLOWED }),
    z.number({ error: VARIABLE_ALLOWED }),
    z.bigint({ error: VARIABLE_ALLOWED }),
    z.instanceof(PyFloat, { error: VARIABLE_ALLOWED }),
  ],
  { error: VARIABLE_ALLOWED },
);

/** Anything a YAML value can be: used where Maestro accepts any value (parameter values). */
const anyValue = z.custom<unknown>(() => true);

const WALLTIME_ALLOWED = 'a time like 01:30:00, a number of minutes, or a $(NAME) token';
const walltime = z.union(
  [
    z.string({ error: WALLTIME_ALLOWED }).min(1, { error: WALLTIME_ALLOWED }),
    z.number({ error: WALLTIME_ALLOWED }).int({ error: WALLTIME_ALLOWED }).min(0, { error: WALLTIME_ALLOWED }),
  ],
  { error: WALLTIME_ALLOWED },
);

export const PRIORITY_NAMES = ['held', 'minimal', 'low', 'medium', 'high', 'expedite', 'expedited'] as const;

const priority = z.union(
  [
    z.string().refine((s) => (PRIORITY_NAMES as readonly string[]).includes(s.toLowerCase())),
    z.number().min(0).max(1),
    z.instanceof(PyFloat).refine((f) => f.value >= 0 && f.value <= 1),
  ],
  { error: `one of ${PRIORITY_NAMES.join(', ')} (any case), or a number from 0 to 1` },
);

/** The `run:` block of a step. Keys with spaces are Maestro's own spelling. */
export const RunInput = z.strictObject({
  cmd: text('the shell commands of the step, as text'),
  depends: z
    .array(nonEmptyText('a step name, or step_* for all of its instances'), {
      error: 'a list of step names, e.g. [make, run_*]',
    })
    .optional(),
  restart: text('shell commands run instead of cmd after a timeout, as text').optional(),
  pre: text('text (unused by Maestro)').optional(),
  post: text('text (unused by Maestro)').optional(),
  nodes: intOrToken(1).optional(),
  procs: intOrToken(1).optional(),
  gpus: intOrToken(0).optional(),
  'cores per task': intOrToken(1).optional(),
  'tasks per rs': intOrToken(1).optional(),
  'rs per node': intOrToken(1).optional(),
  'cpus per rs': intOrToken(1).optional(),
  bind: text('text, e.g. rs or none').optional(),
  'bind gpus': text('text, e.g. none').optional(),
  walltime: walltime.optional(),
  reservation: text('a reservation name').optional(),
  exclusive: z.union([z.boolean(), token], { error: 'true, false or a $(NAME) token' }).optional(),
  qos: text('a quality-of-service name').optional(),
  nested: flag('true or false').optional(),
  waitable: flag('true or false').optional(),
  priority: priority.optional(),
  // Merlin's step keys: accepted and typed; later issues give them behaviour.
  task_queue: nonEmptyText('a queue name').optional(),
  max_retries: z.number({ error: 'a whole number of retries' }).int().min(0).optional(),
  retry_delay: number('a delay in seconds').optional(),
  shell: nonEmptyText('an interpreter, e.g. /bin/bash or /usr/bin/env python3').optional(),
  batch: z.record(z.string(), anyValue, { error: 'a mapping of batch settings for this step' }).optional(),
  slurm: text('extra srun flags, as text').optional(),
  flux: text('extra flux run flags, as text').optional(),
  lsf: text('extra jsrun flags, as text').optional(),
  'gpus per task': intOrToken(0).optional(),
  launch_distribution: text('a launch distribution, as text').optional(),
  exit_on_error: z.union([z.boolean(), z.number().int()], { error: 'true, false or an integer' }).optional(),
  'num resource set': intOrToken(1).optional(),
});
export type RunInput = z.output<typeof RunInput>;

export const StepInput = z.strictObject(
  {
    name: nonEmptyText('a non-empty step name'),
    description: nonEmptyText('a non-empty description of the step'),
    run: RunInput,
  },
  { error: 'a step: a mapping with name, description and run' },
);
export type StepInput = z.output<typeof StepInput>;

export const DescriptionInput = z.looseObject(
  {
    name: nonEmptyText('a non-empty study name'),
    description: nonEmptyText('a non-empty description of the study'),
  },
  { error: 'a mapping with name and description' },
);

export const PathDependencyInput = z.strictObject({
  name: nonEmptyText('a dependency name, used as $(name)'),
  path: nonEmptyText('a path that must exist'),
});

export const GitDependencyInput = z.strictObject({
  name: nonEmptyText('a dependency name, used as $(name)'),
  path: nonEmptyText('the folder to clone into, e.g. $(OUTPUT_PATH)'),
  url: nonEmptyText('a git URL'),
  tag: text('a tag to check out').optional(),
  hash: text('a commit to check out').optional(),
  branch: text('a branch to check out').optional(),
});

export const EnvInput = z.strictObject(
  {
    variables: z.record(z.string(), VariableValue, { error: 'a mapping of NAME: value' }).optional(),
    labels: z.record(z.string(), VariableValue, { error: 'a mapping of NAME: text' }).optional(),
    sources: z.array(anyValue, { error: 'a list (Maestro never applies it)' }).optional(),
    dependencies: z
      .strictObject({
        paths: z.array(PathDependencyInput, { error: 'a list of {name, path}' }).optional(),
        git: z.array(GitDependencyInput, { error: 'a list of {name, path, url, [tag]}' }).optional(),
        spack: z
          .looseObject({
            type: nonEmptyText('a spack type'),
            package_name: nonEmptyText('a package name'),
          })
          .optional(),
      })
      .optional(),
  },
  { error: 'a mapping with variables, labels, sources and dependencies' },
);
export type EnvInput = z.output<typeof EnvInput>;

/**
 * Batch types with a script adapter in Maestro (local, slurm, lsf, flux) or Merlin (lsf-srun:
 * LSF through LLNL's srun wrapper), and pbs. Maestro loads and expands a study whatever its type
 * and fails only when its conductor asks for the adapter; so do we: any type loads (an unknown
 * one with a warning), and only launching workers needs a scheduler that is there.
 */
export const BATCH_TYPES = ['local', 'slurm', 'lsf', 'flux', 'pbs', 'lsf-srun'] as const;

/** `batch:`: known keys are typed; unknown keys are kept (Maestro ignores them) and warned about. */
export const BatchInput = z.looseObject(
  {
    type: nonEmptyText(`a batch type, e.g. ${BATCH_TYPES.join(', ')}`).optional(),
    shell: nonEmptyText('an interpreter path, e.g. /bin/bash').optional(),
    host: text('a host name').optional(),
    bank: text('an account (bank) name').optional(),
    queue: text('a partition (queue) name').optional(),
    nodes: intOrToken(1).optional(),
    procs: intOrToken(1).optional(),
    reservation: text('a reservation name').optional(),
    qos: text('a quality-of-service name').optional(),
    gpus: intOrToken(0).optional(),
    walltime: walltime.optional(),
    version: z.union([z.string(), z.number(), z.instanceof(PyFloat)], { error: 'a Flux adapter version' }).optional(),
    uri: text('a Flux URI').optional(),
    args: z.record(z.string(), anyValue, { error: 'a mapping of flux run options' }).optional(),
    // Merlin's batch keys.
    dry_run: flag('true or false').optional(),
    launch_pre: text('text run before the launch').optional(),
    launch_args: text('extra launch flags').optional(),
    worker_launch: text('a worker launch prefix').optional(),
    flux_path: text('a path to flux').optional(),
    flux_exec: text('a flux exec command').optional(),
    flux_exec_workers: flag('true or false').optional(),
    flux_start_opts: text('flux start options').optional(),
    bind: text('text').optional(),
  },
  { error: 'a mapping of batch settings' },
);
export type BatchInput = z.output<typeof BatchInput>;

export const ParameterInput = z.strictObject(
  {
    values: z.array(anyValue, { error: 'a list of values, e.g. [10, 20, 30]' }).min(1, {
      error: 'a non-empty list of values',
    }),
    label: text('text with %% where the value goes, e.g. SIZE.%%'),
  },
  { error: 'a mapping with values and label' },
);
export type ParameterInput = z.output<typeof ParameterInput>;

export const MerlinInput = z.looseObject(
  {
    resources: z
      .looseObject({
        task_server: text('celery').optional(),
        overlap: flag('true or false').optional(),
        workers: z
          .record(
            z.string(),
            z.looseObject({
              args: text('worker arguments').optional(),
              steps: z.array(z.string(), { error: 'a list of step names, or [all]' }).optional(),
              nodes: z.union([z.number().int().min(1), token, z.null()], { error: 'a node count' }).optional(),
              batch: z.record(z.string(), anyValue).nullable().optional(),
              machines: z.array(z.string(), { error: 'a list of host names' }).optional(),
            }),
            { error: 'a mapping of worker name to settings' },
          )
          .optional(),
      })
      .optional(),
    samples: z
      .looseObject({
        generate: z.looseObject({ cmd: text('a command that writes the samples file') }).optional(),
        file: text('a .npy, .csv or .tab file').optional(),
        column_labels: z.array(z.string(), { error: 'a list of column names' }).optional(),
        level_max_dirs: z.number().int().min(1).optional(),
      })
      .nullable()
      .optional(),
  },
  { error: 'a mapping with resources and samples' },
);

export const StudyInput = z.strictObject(
  {
    description: DescriptionInput,
    env: EnvInput.nullable().optional(),
    batch: BatchInput.nullable().optional(),
    study: z.array(StepInput, { error: 'a list of steps' }),
    'global.parameters': z
      .record(z.string(), ParameterInput, { error: 'a mapping of NAME: {values, label}' })
      .nullable()
      .optional(),
    merlin: MerlinInput.nullable().optional(),
    user: anyValue.optional(),
  },
  { error: 'a mapping with description, env, batch, study and global.parameters' },
);
export type StudyInput = z.output<typeof StudyInput>;

/** Values a `$(VAR)`-capable field may hold before text substitution. */
export type ScalarInput = string | number | bigint | boolean | PyFloat | PyTimestamp;

/**
 * The keys an object at `path` accepts, found by walking the schema: used to suggest the
 * closest valid key. Returns undefined where any key is allowed.
 */
export function allowedKeysAt(path: readonly (string | number)[]): string[] | undefined {
  let schema: unknown = StudyInput;
  for (const part of path) {
    schema = descend(schema, part);
    if (!schema) return undefined;
  }
  const shape = objectShape(schema);
  return shape ? Object.keys(shape) : undefined;
}

interface ZodLike {
  def?: {
    type?: string;
    innerType?: unknown;
    element?: unknown;
    valueType?: unknown;
    options?: unknown[];
    shape?: Record<string, unknown>;
  };
}

function unwrap(schema: unknown): unknown {
  let s = schema as ZodLike | undefined;
  while (s?.def && (s.def.type === 'optional' || s.def.type === 'nullable' || s.def.type === 'default')) {
    s = s.def.innerType as ZodLike;
  }
  return s;
}

function objectShape(schema: unknown): Record<string, unknown> | undefined {
  const s = unwrap(schema) as ZodLike | undefined;
  return s?.def?.type === 'object' ? s.def.shape : undefined;
}

function descend(schema: unknown, part: string | number): unknown {
  const s = unwrap(schema) as ZodLike | undefined;
  if (!s?.def) return undefined;
  if (s.def.type === 'array') return typeof part === 'number' ? s.def.element : undefined;
  if (s.def.type === 'record') return s.def.valueType;
  if (s.def.type === 'object') return s.def.shape?.[String(part)];
  return undefined;
}
