/**
 * Study file text -> a checked {@link Study}: YAML read as Maestro reads it, every key validated,
 * names, dependencies, variables and parameters checked. Every problem found is reported at
 * once in one {@link SpecError}; nothing here touches the file system.
 */
import type { z } from 'zod';
import { SpecError, SpecErrorCode, type SpecProblem } from './errors.js';
import type { SourcePositions } from './load-yaml.js';
import { loadYaml, YamlLoadError, type KeyPath, type LoadedYaml } from './load-yaml.js';
import { ParameterSet, type ParameterDef } from './parameters.js';
import { ProblemList } from './problems.js';
import { unsafeComponentReason } from './path-names.js';
import { pyStr, type PyValue } from './py-values.js';
import { isWalltime, WALLTIME_FORMS } from './run-values.js';
import { allowedKeysAt, BATCH_TYPES, BatchInput, StudyInput, type RunInput } from './schema.js';
import { didYouMean } from './suggest.js';
import { tokenNames } from './tokens.js';

/** A `depends:` entry: `name` waits for the matching instance, `name_*` for all of them. */
export interface StepDependency {
  /** The parent step's name. */
  readonly step: string;
  /** True for a funnel (`name_*` or `name*`): wait for every instance of the parent. */
  readonly funnel: boolean;
  /** As written in the spec. */
  readonly written: string;
}

export interface StudyStep {
  readonly name: string;
  readonly description: string;
  /** Position in the file's `study:` list. */
  readonly fileIndex: number;
  readonly run: RunInput;
  readonly depends: readonly StepDependency[];
}

/** An env variable or label, with its value as text (Python str()), not yet substituted. */
export interface StudyVariable {
  readonly name: string;
  readonly value: string;
  readonly kind: 'variable' | 'label';
}

export interface GitDependency {
  readonly name: string;
  readonly path: string;
  readonly url: string;
  readonly tag?: string | undefined;
  readonly hash?: string | undefined;
  readonly branch?: string | undefined;
}

export interface BatchSettings {
  /**
   * `batch.type` as written (`local` if none): any text loads, as in Maestro, whose conductor
   * only looks the adapter up when it launches; see {@link BATCH_TYPES} for the known ones.
   */
  readonly type: string;
  /** Interpreter of generated step scripts. @default '/bin/bash' */
  readonly shell: string;
  /** Every key of the `batch:` block as written (bank, queue, nodes, ...). */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface Study {
  readonly name: string;
  readonly description: string;
  /** The spec file as given, for messages. */
  readonly file: string | undefined;
  /** The spec text as parsed (copied into the study root). */
  readonly text: string;
  readonly batch: BatchSettings;
  /** Variables and labels in file order, without OUTPUT_PATH. */
  readonly variables: readonly StudyVariable[];
  /** The OUTPUT_PATH variable as written, if any. */
  readonly outputPath: string | undefined;
  readonly pathDependencies: readonly { readonly name: string; readonly path: string }[];
  readonly gitDependencies: readonly GitDependency[];
  /** Steps in file order. */
  readonly steps: readonly StudyStep[];
  /** Indices into `steps`, parents before children, file order among independent steps. */
  readonly order: readonly number[];
  /** `global.parameters`, if the spec has any. */
  readonly parameters: ParameterSet | undefined;
  /** The `merlin:` block, if any (Merlin specs); behaviour comes later. */
  readonly merlin: Readonly<Record<string, unknown>> | undefined;
  /** Where each key came from, for problems found later (expansion). */
  readonly positions: SourcePositions;
}

export interface ParsedStudy {
  readonly study: Study;
  /** Suspicious but accepted: unknown batch keys, duplicate YAML keys, ... */
  readonly warnings: readonly SpecProblem[];
}

export interface ParseStudyOptions {
  /** File name shown in problems. */
  readonly file?: string | undefined;
}

/** Names that `$(NAME)` resolves to without being declared. */
export const BUILTIN_TOKENS = ['OUTPUT_PATH', 'SPECROOT', 'WORKSPACE', 'LAUNCHER'] as const;

/** Parses and checks a study specification; throws {@link SpecError} listing every problem. */
export function parseStudy(text: string, options: ParseStudyOptions = {}): ParsedStudy {
  const file = options.file;
  let loaded: LoadedYaml;
  try {
    loaded = loadYaml(text, file);
  } catch (err) {
    if (err instanceof YamlLoadError) throw new SpecError(err.problems, { cause: err });
    throw err;
  }
  const problems = new ProblemList(loaded.positions, file);
  for (const w of loaded.warnings) problems.warnings.push(w);
  const raw = loaded.value;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.error(
      SpecErrorCode.WrongType,
      [],
      `the file holds ${describe(raw)}, not a study`,
      'a mapping with description, env, batch, study and global.parameters',
    );
    problems.throwIfAny();
  }
  const rawStudy = (raw as Record<string, PyValue>)['study'];
  if (rawStudy === null || (Array.isArray(rawStudy) && rawStudy.length === 0)) {
    problems.error(
      SpecErrorCode.NoSteps,
      ['study'],
      'the study has no steps',
      'list at least one step under study:',
      true,
    );
    problems.throwIfAny();
  }
  const parsed = StudyInput.safeParse(raw);
  if (!parsed.success) {
    reportSchemaIssues(parsed.error.issues, raw, problems);
    problems.throwIfAny();
  }
  const input = parsed.data!;
  warnUnknownBatchKeys(raw as Record<string, PyValue>, problems);

  const env = input.env ?? {};
  const variables = checkVariables(env, problems);
  const outputPathVar = variables.find((v) => v.name === 'OUTPUT_PATH');
  const steps = checkSteps(input.study, problems);
  const order = orderSteps(steps, problems);
  const parameters = toParameterSet(input['global.parameters'] ?? {}, problems);
  // The default walltime of the allocations `maestro workers launch` and --autoscale submit.
  checkWalltime(input.batch?.walltime, ['batch', 'walltime'], problems);
  problems.throwIfAny();

  const batch = input.batch ?? {};
  const study: Study = {
    name: input.description.name,
    description: input.description.description,
    file,
    text,
    batch: {
      type: batch.type ?? 'local',
      shell: batch.shell ?? '/bin/bash',
      settings: batch as Record<string, unknown>,
    },
    variables: variables.filter((v) => v.name !== 'OUTPUT_PATH'),
    outputPath: outputPathVar?.value,
    pathDependencies: env.dependencies?.paths ?? [],
    gitDependencies: env.dependencies?.git ?? [],
    steps,
    order,
    parameters,
    merlin: (input.merlin ?? undefined) as Record<string, unknown> | undefined,
    positions: loaded.positions,
  };
  return { study, warnings: problems.warnings };
}

/** Turns `global.parameters` (or a generator's output) into a checked {@link ParameterSet}. */
function toParameterSet(
  block: Record<string, { values: unknown[]; label: string }>,
  problems: ProblemList,
): ParameterSet | undefined {
  const defs: ParameterDef[] = Object.entries(block).map(([key, p]) => ({
    key,
    values: p.values.map((v) => pyStr(v as PyValue)),
    label: p.label,
  }));
  if (defs.length === 0) return undefined;
  return ParameterSet.from(defs, problems, (key, field) => ['global.parameters', key, ...(field ? [field] : [])]);
}

function checkVariables(env: NonNullable<StudyInput['env']>, problems: ProblemList): StudyVariable[] {
  const out: StudyVariable[] = [];
  const seen = new Map<string, string>();
  const claim = (name: string, path: KeyPath, what: string): void => {
    const previous = seen.get(name);
    if (previous !== undefined) {
      problems.error(
        SpecErrorCode.DuplicateName,
        path,
        `the name '${name}' is already used by ${previous}`,
        'variables, labels and dependencies need distinct names',
        true,
      );
    } else seen.set(name, what);
  };
  for (const [kind, block] of [
    ['variable', env.variables],
    ['label', env.labels],
  ] as const) {
    for (const [name, value] of Object.entries(block ?? {})) {
      const path = ['env', kind === 'variable' ? 'variables' : 'labels', name];
      claim(name, path, `the ${kind} at env.${kind === 'variable' ? 'variables' : 'labels'}.${name}`);
      const text = pyStr(value as PyValue);
      if (text.trim() === '') {
        problems.error(SpecErrorCode.EmptyVariable, path, `${kind} ${name} is empty`, 'give it a value, or remove it');
      }
      if ((BUILTIN_TOKENS as readonly string[]).includes(name) && name !== 'OUTPUT_PATH') {
        problems.error(
          SpecErrorCode.DuplicateName,
          path,
          `'${name}' is set by maestro itself`,
          'choose another name',
          true,
        );
      }
      out.push({ name, value: text, kind });
    }
  }
  env.dependencies?.paths?.forEach((d, i) =>
    claim(d.name, ['env', 'dependencies', 'paths', i, 'name'], `the path dependency #${i + 1}`),
  );
  env.dependencies?.git?.forEach((d, i) => {
    claim(d.name, ['env', 'dependencies', 'git', i, 'name'], `git dependency #${i + 1}`);
    const refs = [d.tag, d.hash, d.branch].filter((x) => x !== undefined);
    if (refs.length > 1) {
      problems.error(
        SpecErrorCode.InvalidValue,
        ['env', 'dependencies', 'git', i],
        `git dependency ${d.name} sets more than one of tag, hash and branch`,
        'give at most one of them',
      );
    }
  });
  checkEnvironmentCycles(out, env.dependencies, problems);
  return out;
}

/** A name the environment gives a value: where it is written, and the text its value comes from. */
interface EnvName {
  readonly name: string;
  readonly text: string;
  readonly at: KeyPath;
  readonly kind: 'variable' | 'dependency';
}

/**
 * Variables, labels and dependency paths may refer to each other (resolved fully, not in one
 * pass; environment.ts); refuse loops, naming them.
 */
function checkEnvironmentCycles(
  vars: readonly StudyVariable[],
  deps: NonNullable<NonNullable<StudyInput['env']>['dependencies']> | undefined,
  problems: ProblemList,
): void {
  const names: EnvName[] = vars.map((v) => ({
    name: v.name,
    text: v.value,
    at: ['env', v.kind === 'variable' ? 'variables' : 'labels', v.name],
    kind: 'variable',
  }));
  deps?.paths?.forEach((d, i) =>
    names.push({ name: d.name, text: d.path, at: ['env', 'dependencies', 'paths', i, 'path'], kind: 'dependency' }),
  );
  deps?.git?.forEach((d, i) =>
    names.push({ name: d.name, text: d.path, at: ['env', 'dependencies', 'git', i, 'path'], kind: 'dependency' }),
  );
  const byName = new Map<string, EnvName>();
  for (const n of names) if (!byName.has(n.name)) byName.set(n.name, n); // duplicates: reported already
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'active') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const what = cycle.some((n) => byName.get(n)!.kind === 'dependency')
        ? 'variables and dependencies refer'
        : 'variables refer';
      problems.error(
        SpecErrorCode.VariableCycle,
        byName.get(name)!.at,
        `${what} to each other in a loop: ${cycle.map((n) => `$(${n})`).join(' -> ')}`,
        'break the loop',
      );
      return;
    }
    state.set(name, 'active');
    stack.push(name);
    for (const ref of tokenNames(byName.get(name)!.text)) if (byName.has(ref)) visit(ref);
    stack.pop();
    state.set(name, 'done');
  };
  for (const n of byName.keys()) visit(n);
}

function checkSteps(input: StudyInput['study'], problems: ProblemList): StudyStep[] {
  const names = new Map<string, number>();
  input.forEach((s, i) => {
    const path = ['study', i, 'name'];
    const previous = names.get(s.name);
    if (previous !== undefined) {
      problems.error(
        SpecErrorCode.DuplicateName,
        path,
        `step name '${s.name}' is already used by study[${previous}]`,
        'every step needs its own name',
      );
    } else names.set(s.name, i);
    const unsafe = s.name.includes('/') ? "contains '/'" : unsafeComponentReason(s.name);
    if (unsafe) {
      problems.error(
        SpecErrorCode.UnsafePath,
        path,
        `step name '${s.name}' ${unsafe}; it names the step's workspace folder`,
        'use letters, digits and - _ . ( ) in step names',
      );
    }
  });
  return input.map((s, i) => {
    const depends: StepDependency[] = [];
    const seen = new Set<string>();
    (s.run.depends ?? []).forEach((written, j) => {
      const path = ['study', i, 'run', 'depends', j];
      if (seen.has(written)) {
        problems.error(SpecErrorCode.DuplicateName, path, `'${written}' is listed twice`, 'list each dependency once');
        return;
      }
      seen.add(written);
      const dep = resolveDependency(written, names);
      if (!dep) {
        const base = written.replace(/_?\*$/, '');
        problems.error(
          SpecErrorCode.UnknownStep,
          path,
          `step '${s.name}' depends on '${written}', but no step is named '${base}'${didYouMean(base, names.keys())}`,
          `depend on one of: ${[...names.keys()].join(', ')}`,
        );
        return;
      }
      if (dep.step === s.name) {
        problems.error(
          SpecErrorCode.Cycle,
          path,
          `step '${s.name}' depends on itself`,
          'a step can only depend on other steps',
        );
        return;
      }
      depends.push(dep);
    });
    checkWalltime(s.run.walltime, ['study', i, 'run', 'walltime'], problems);
    return { name: s.name, description: s.description, fileIndex: i, run: s.run, depends };
  });
}

/**
 * A walltime written out must be one. One with `$(NAME)` tokens is checked per instance once
 * they are replaced (expandStudy).
 */
function checkWalltime(value: string | number | undefined, path: KeyPath, problems: ProblemList): void {
  if (value === undefined || isWalltime(value)) return;
  if (typeof value === 'string' && tokenNames(value).length > 0) return;
  problems.error(SpecErrorCode.InvalidValue, path, `'${String(value)}' is not a walltime`, WALLTIME_FORMS);
}

/**
 * `name` is a one-to-one dependency; `name_*` and `name*` are funnels over every instance of
 * `name`. An exact step name wins, so a step really called `x_` can be funnelled as `x_*`.
 */
function resolveDependency(written: string, names: ReadonlyMap<string, number>): StepDependency | undefined {
  if (names.has(written)) return { step: written, funnel: false, written };
  if (written.endsWith('_*') && names.has(written.slice(0, -2)))
    return { step: written.slice(0, -2), funnel: true, written };
  if (written.endsWith('*') && names.has(written.slice(0, -1)))
    return { step: written.slice(0, -1), funnel: true, written };
  return undefined;
}

/** Kahn's order with file order among ready steps; reports one cycle, named, if there is one. */
function orderSteps(steps: readonly StudyStep[], problems: ProblemList): number[] {
  const index = new Map(steps.map((s, i) => [s.name, i]));
  const children: number[][] = steps.map(() => []);
  const indegree = steps.map((s) => s.depends.length);
  steps.forEach((s, i) => s.depends.forEach((d) => children[index.get(d.step)!]!.push(i)));
  const ready = steps.map((_, i) => i).filter((i) => indegree[i] === 0);
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(i);
    for (const c of children[i]!) if (--indegree[c]! === 0) ready.push(c);
  }
  if (order.length < steps.length) {
    const cycle = findStepCycle(steps, index, indegree);
    const first = steps[cycle[0]!]!;
    problems.error(
      SpecErrorCode.Cycle,
      ['study', first.fileIndex, 'run', 'depends'],
      `steps depend on each other in a loop: ${cycle.map((i) => steps[i]!.name).join(' -> ')}`,
      'dependencies must form a DAG: remove one of these depends entries',
    );
  }
  return order;
}

/** Walks parent links among the steps left with parents; any walk on them must loop. */
function findStepCycle(
  steps: readonly StudyStep[],
  index: ReadonlyMap<string, number>,
  indegree: readonly number[],
): number[] {
  let at = indegree.findIndex((d) => d > 0);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(at)) {
    seenAt.set(at, path.length);
    path.push(at);
    const parent = steps[at]!.depends.map((d) => index.get(d.step)!).find((p) => indegree[p]! > 0);
    at = parent!;
  }
  const loop = path.slice(seenAt.get(at));
  // path follows child -> parent; print parent -> child from the first step in the file.
  const forward = loop.reverse();
  const start = forward.indexOf(Math.min(...forward));
  const rotated = [...forward.slice(start), ...forward.slice(0, start)];
  return [...rotated, rotated[0]!];
}

function warnUnknownBatchKeys(raw: Record<string, PyValue>, problems: ProblemList): void {
  const batch = raw['batch'];
  if (batch === null || typeof batch !== 'object' || Array.isArray(batch)) return;
  const type = (batch as Record<string, PyValue>)['type'];
  if (typeof type === 'string' && type !== '' && !(BATCH_TYPES as readonly string[]).includes(type)) {
    problems.warn(
      SpecErrorCode.InvalidValue,
      ['batch', 'type'],
      `batch type '${type}' is not one Maestro or Merlin has an adapter for${didYouMean(type, BATCH_TYPES)}; the study loads and runs as written, and workers launched for it need --scheduler`,
      `known batch types: ${BATCH_TYPES.join(', ')}`,
    );
  }
  const known = Object.keys(BatchInput.shape);
  for (const key of Object.keys(batch)) {
    if (!known.includes(key)) {
      problems.warn(
        SpecErrorCode.UnknownKey,
        ['batch', key],
        `unknown batch key '${key}' is ignored${didYouMean(key, known)}`,
        `known batch keys: ${known.join(', ')}`,
        true,
      );
    }
  }
}

/** zod issues -> located problems that say what was found and what is allowed. */
function reportSchemaIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, problems: ProblemList): void {
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(path) ?? [];
      for (const key of issue.keys) {
        const where = path.length ? ` in ${describePlace(path, raw)}` : '';
        problems.error(
          SpecErrorCode.UnknownKey,
          [...path, key],
          `unknown key '${key}'${where}${didYouMean(key, allowed)}`,
          `allowed keys: ${allowed.join(', ')}`,
          true,
        );
      }
      continue;
    }
    const parent = valueAt(raw, path.slice(0, -1));
    const last = path[path.length - 1];
    const missing =
      last !== undefined &&
      parent !== null &&
      typeof parent === 'object' &&
      !Array.isArray(parent) &&
      !Object.prototype.hasOwnProperty.call(parent, last);
    const allowed = friendlyAllowed(issue);
    if (missing) {
      problems.error(
        SpecErrorCode.MissingKey,
        path,
        `required key '${String(last)}' is missing${path.length > 1 ? ` from ${describePlace(path.slice(0, -1), raw)}` : ''}`,
        allowed,
      );
      continue;
    }
    const value = valueAt(raw, path);
    if (issue.code === 'too_small' && typeof value === 'string' && value === '') {
      problems.error(SpecErrorCode.InvalidValue, path, 'is empty', allowed);
    } else if (issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'invalid_format') {
      problems.error(SpecErrorCode.WrongType, path, `got ${describe(value as PyValue)}`, allowed);
    } else {
      problems.error(SpecErrorCode.InvalidValue, path, `got ${describe(value as PyValue)}`, allowed);
    }
  }
}

function friendlyAllowed(issue: z.core.$ZodIssue): string {
  if (!issue.message.startsWith('Invalid input') && !issue.message.startsWith('Too ')) return issue.message;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'too_small') return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)}`;
  return issue.message;
}

function describePlace(path: readonly (string | number)[], raw: unknown): string {
  if (path[0] === 'study' && typeof path[1] === 'number') {
    const rest = path.slice(2).join('.');
    const name = valueAt(raw, ['study', path[1], 'name']);
    const step = typeof name === 'string' ? `step '${name}'` : `step #${path[1] + 1}`;
    return rest ? `the ${rest} block of ${step}` : step;
  }
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.');
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** A bad value, for messages: `the number 5`, `the text 'abc'`, `nothing (null)`. */
export function describe(value: PyValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'nothing (null)';
  if (typeof value === 'string') return value === '' ? 'empty text' : `the text '${truncate(value)}'`;
  if (typeof value === 'boolean') return `the boolean ${pyStr(value)}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `the integer ${pyStr(value)}`;
  if (Array.isArray(value)) return `a list (${truncate(pyStr(value))})`;
  if (typeof value === 'object' && value.constructor === Object) return `a mapping (${truncate(pyStr(value))})`;
  return `the value ${truncate(pyStr(value))}`;
}

function truncate(s: string): string {
  const line = s.replace(/\n/g, '\\n');
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
