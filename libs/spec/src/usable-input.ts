/**
 * The parts of a spec that pass the schema, when the whole does not. The checks that follow the
 * schema (names, dependencies, cycles, walltimes, parameters, expansion) run on them, so that a
 * spec's problems are all reported in one pass: a step whose `run.cmd` is missing is still
 * checked for its dependencies and cycles. What fails is left out, and the names it would have
 * defined are listed as unusable, so that later checks do not call them unknown as well.
 */
import type { z } from 'zod';
import type { PyValue } from './py-values.js';
import {
  BatchInput,
  DescriptionInput,
  GitDependencyInput,
  MerlinInput,
  ParameterInput,
  PathDependencyInput,
  RunInput,
  StepInput,
  VariableValue,
  type StudyInput,
} from './schema.js';

export interface UsableInput {
  /** The spec with every part that failed the schema left out (a step's bad keys, a bad variable...). */
  readonly input: StudyInput;
  /** Position in the file of each step of `input.study` (steps without a usable name are left out). */
  readonly fileIndices: readonly number[];
  /** Names of variables, labels, dependencies, parameters and steps left out. */
  readonly unusable: ReadonlySet<string>;
}

type Mapping = Record<string, PyValue>;

const isMapping = (v: unknown): v is Mapping => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: Mapping, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/** The usable parts of `raw`, a mapping that failed {@link StudyInput}. */
export function usableInput(raw: Mapping): UsableInput {
  const unusable = new Set<string>();
  const steps: StepInput[] = [];
  const fileIndices: number[] = [];
  const rawSteps = raw['study'];
  if (Array.isArray(rawSteps)) {
    rawSteps.forEach((s, i) => {
      const step = usableStep(s, unusable);
      if (step === undefined) return;
      steps.push(step);
      fileIndices.push(i);
    });
  }
  const description = DescriptionInput.safeParse(raw['description']);
  const rawDescription = isMapping(raw['description']) ? raw['description'] : {};
  const merlin = MerlinInput.safeParse(raw['merlin']);
  const input: StudyInput = {
    description: description.success
      ? description.data
      : { name: textOr(rawDescription['name'], ''), description: textOr(rawDescription['description'], '') },
    env: usableEnv(raw['env'], unusable),
    batch: usableBatch(raw['batch']),
    study: steps,
    'global.parameters': usableParameters(raw['global.parameters'], unusable),
    merlin: merlin.success ? merlin.data : undefined,
  };
  return { input, fileIndices, unusable };
}

const textOr = (v: PyValue | undefined, fallback: string): string => (typeof v === 'string' ? v : fallback);

/** A step with a usable name, its other parts as far as they pass; undefined without a name. */
function usableStep(raw: PyValue, unusable: Set<string>): StepInput | undefined {
  const whole = StepInput.safeParse(raw);
  if (whole.success) return whole.data;
  if (!isMapping(raw)) return undefined;
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') {
    if (typeof name === 'number' || typeof name === 'boolean') unusable.add(String(name));
    return undefined;
  }
  return { name, description: textOr(raw['description'], ''), run: usableRun(raw['run']) };
}

/** The keys of a `run:` block that pass, `cmd` empty if it does not; `depends` keeps its step names. */
function usableRun(raw: PyValue | undefined): RunInput {
  const out: Record<string, unknown> = { cmd: '' };
  if (!isMapping(raw)) return out as RunInput;
  for (const [key, schema] of Object.entries(RunInput.shape) as [string, z.ZodType][]) {
    if (!has(raw, key)) continue;
    const value = raw[key];
    const r = schema.safeParse(value);
    if (r.success) {
      if (r.data !== undefined) out[key] = r.data;
    } else if (key === 'depends' && Array.isArray(value)) {
      // Entries keep their places (problems name them by index); a bad one is left empty.
      out[key] = value.map((d) => (typeof d === 'string' ? d : ''));
    }
  }
  return out as RunInput;
}

function usableEnv(raw: PyValue | undefined, unusable: Set<string>): StudyInput['env'] {
  if (!isMapping(raw)) return undefined;
  const entries = (block: PyValue | undefined): Record<string, z.output<typeof VariableValue>> | undefined => {
    if (!isMapping(block)) return undefined;
    const out: Record<string, z.output<typeof VariableValue>> = {};
    for (const [name, value] of Object.entries(block)) {
      const r = VariableValue.safeParse(value);
      if (r.success) Object.defineProperty(out, name, { value: r.data, enumerable: true, writable: true });
      else unusable.add(name);
    }
    return out;
  };
  const deps = isMapping(raw['dependencies']) ? raw['dependencies'] : {};
  return {
    variables: entries(raw['variables']),
    labels: entries(raw['labels']),
    dependencies: {
      paths: usableList(deps['paths'], PathDependencyInput, unusable),
      git: usableList(deps['git'], GitDependencyInput, unusable),
    },
  };
}

/** The entries of a list that pass `schema`; the names of those that do not are unusable. */
function usableList<T>(raw: PyValue | undefined, schema: z.ZodType<T>, unusable: Set<string>): T[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: T[] = [];
  for (const item of raw) {
    const r = schema.safeParse(item);
    if (r.success) out.push(r.data);
    else if (isMapping(item) && typeof item['name'] === 'string') unusable.add(item['name']);
  }
  return out;
}

/** Batch keys that pass, unknown keys as written (they are kept and warned about). */
function usableBatch(raw: PyValue | undefined): StudyInput['batch'] {
  if (!isMapping(raw)) return undefined;
  const shape = BatchInput.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const schema = Object.prototype.hasOwnProperty.call(shape, key) ? shape[key] : undefined;
    const r = schema ? schema.safeParse(value) : { success: true as const, data: value };
    if (r.success && r.data !== undefined) Object.defineProperty(out, key, { value: r.data, enumerable: true });
  }
  return out as StudyInput['batch'];
}

function usableParameters(raw: PyValue | undefined, unusable: Set<string>): StudyInput['global.parameters'] {
  if (!isMapping(raw)) return undefined;
  const out: NonNullable<StudyInput['global.parameters']> = {};
  for (const [key, value] of Object.entries(raw)) {
    const r = ParameterInput.safeParse(value);
    if (r.success) Object.defineProperty(out, key, { value: r.data, enumerable: true, writable: true });
    else unusable.add(key);
  }
  return out;
}
