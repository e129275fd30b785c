/**
 * Study -> step instances, the way Maestro's `Study._stage` expands a study (reference §2):
 *
 * - a step is expanded over the parameters it uses, directly (`$(P)`, `$(P.label)`,
 *   `$(P.name)` in any of its fields, after env substitution) or inherited through one-to-one
 *   `depends` and `$(X.workspace)` references; funnel (`X_*`) parents pass nothing on;
 * - one instance per parameter row, named `<step>_<labels of the used parameters sorted by
 *   key, joined by '.'>`, rows giving the same name collapsing into the first;
 * - a one-to-one child instance depends on the parent instance of the same row projected on
 *   the parent's parameters; a funnel child on every instance of the parent.
 *
 * Instances are kept compact (typed arrays of row numbers per step) and rendered on demand,
 * so a study of a million instances costs megabytes, not gigabytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { SpecErrorCode } from './errors.js';
import { resolveEnvironment, type EnvironmentPlaces } from './environment.js';
import type { ParameterSet } from './parameters.js';
import {
  BUILTIN_TOKENS,
  safePathComponent,
  unsafeComponentReason,
  type BatchSettings,
  type Study,
  type StudyStep,
} from './parse-study.js';
import { ProblemList } from './problems.js';
import { isWalltime, readCount, RUN_COUNT_KEYS, WALLTIME_FORMS } from './run-values.js';
import type { RunInput } from './schema.js';
import { didYouMean } from './suggest.js';
import { forEachString, mapStrings, replaceTokens, tokenNames, workspaceTokenStep } from './tokens.js';

/** Studies above this many instances are refused unless the caller allows more. */
export const DEFAULT_MAX_INSTANCES = 2_000_000;

export interface ExpandOptions extends EnvironmentPlaces {
  /** Name parameterized workspaces by the md5 of their labels (`--hashws`). @default false */
  readonly hashWorkspaces?: boolean | undefined;
  /**
   * Nest the workspaces of a parameterized step in numbered folders so that no folder holds more
   * than this many entries (`--workspace-fanout`); parallel file systems slow down on huge
   * folders. Undefined keeps Maestro's flat `<step>/<labels>` layout.
   */
  readonly workspaceFanout?: number | undefined;
  /** Parameters from a generator (`--pgen`); they replace `global.parameters`. */
  readonly parameters?: ParameterSet | undefined;
  /** Refuse studies with more instances than this. @default DEFAULT_MAX_INSTANCES */
  readonly maxInstances?: number | undefined;
}

export interface ExpandedStep {
  readonly name: string;
  readonly description: string;
  readonly fileIndex: number;
  /** Parameters this step is expanded over, sorted by key. Empty: one instance. */
  readonly usedParameters: readonly string[];
  /** Indices (into ExpandedStudy.steps) of one-to-one parents. */
  readonly parents: readonly number[];
  /** Indices of funnel parents: every instance of each is a parent of every instance here. */
  readonly funnelParents: readonly number[];
  /** Index of this step's first instance; its instances are consecutive. */
  readonly firstInstance: number;
  readonly instanceCount: number;
  /** Workspace folder of the step, relative to the root. */
  readonly dir: string;
  /** `run:` with env tokens substituted; parameter and workspace tokens still in place. */
  readonly run: RunInput;
}

/** Who an instance is, cheap to compute for every instance of a big study (status files). */
export interface InstanceSummary {
  readonly index: number;
  readonly name: string;
  readonly step: string;
  readonly stepIndex: number;
  readonly workspace: string;
  readonly fileName: string;
  readonly params: Readonly<Record<string, string>>;
  /** Parameter row, or -1 for an unparameterized step. */
  readonly row: number;
}

/** One step instance, rendered: what a worker needs to run it and a person to recognise it. */
export interface StepInstance {
  readonly index: number;
  /** `<step>` or `<step>_<labels>`. */
  readonly name: string;
  readonly step: string;
  readonly stepIndex: number;
  /** Workspace relative to the study root. */
  readonly workspace: string;
  /** Base name of the script and output files: the name made path-safe, or the md5 with --hashws. */
  readonly fileName: string;
  /** Values of the used parameters, as text. */
  readonly params: Readonly<Record<string, string>>;
  readonly cmd: string;
  readonly restart: string | undefined;
  /** Every `run:` key with all tokens substituted (resources, walltime, ...). */
  readonly run: Readonly<Record<string, unknown>>;
}

export class ExpandedStudy {
  readonly instanceCount: number;
  readonly #firstInstances: Int32Array;
  readonly #internals: StepInternals[];

  /** @internal use {@link expandStudy}. */
  constructor(
    readonly name: string,
    readonly description: string,
    readonly root: string,
    readonly specRoot: string,
    readonly batch: BatchSettings,
    readonly steps: readonly ExpandedStep[],
    readonly parameters: ParameterSet | undefined,
    readonly hashWorkspaces: boolean,
    internals: StepInternals[],
    readonly workspaceFanout: number | undefined = undefined,
  ) {
    this.#internals = internals;
    this.#firstInstances = Int32Array.from(steps.map((s) => s.firstInstance));
    const last = steps[steps.length - 1];
    this.instanceCount = last ? last.firstInstance + last.instanceCount : 0;
  }

  /** The step (index into `steps`) that instance `i` belongs to. */
  stepIndexOf(i: number): number {
    const starts = this.#firstInstances;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The parameter row behind instance `i`, or -1 for an unparameterized step. */
  rowOf(i: number): number {
    const s = this.stepIndexOf(i);
    const rows = this.#internals[s]!.rows;
    return rows ? rows[i - this.steps[s]!.firstInstance]! : -1;
  }

  /** The instance of one-to-one parent step `p` that instance `i` depends on. */
  parentInstance(i: number, p: number): number {
    const parent = this.steps[p]!;
    const rowToLocal = this.#internals[p]!.rowToLocal;
    if (!rowToLocal) return parent.firstInstance;
    return parent.firstInstance + rowToLocal[this.rowOf(i)]!;
  }

  /** Every parent instance of `i`: one-to-one parents, then all instances of funnel parents. */
  parentsOf(i: number): number[] {
    const step = this.steps[this.stepIndexOf(i)]!;
    const out = step.parents.map((p) => this.parentInstance(i, p));
    for (const f of step.funnelParents) {
      const hub = this.steps[f]!;
      for (let k = 0; k < hub.instanceCount; k++) out.push(hub.firstInstance + k);
    }
    return out;
  }

  /** Name of instance `i` (cheaper than rendering it). */
  instanceName(i: number): string {
    const s = this.stepIndexOf(i);
    const step = this.steps[s]!;
    const combo = this.#combo(s, i);
    return combo === undefined ? step.name : `${step.name}_${combo}`;
  }

  /** Who instance `i` is, without rendering its commands: name, workspace, parameters. */
  describe(i: number): InstanceSummary {
    const s = this.stepIndexOf(i);
    const step = this.steps[s]!;
    const internals = this.#internals[s]!;
    const row = internals.rows ? internals.rows[i - step.firstInstance]! : -1;
    const combo = this.#combo(s, i);
    const name = combo === undefined ? step.name : `${step.name}_${combo}`;
    const leaf = combo === undefined ? undefined : this.hashWorkspaces ? md5(combo) : safePathComponent(combo);
    const workspace =
      leaf === undefined ? step.dir : `${step.dir}/${this.#buckets(step.instanceCount, i - step.firstInstance)}${leaf}`;
    const fileName = leaf !== undefined && this.hashWorkspaces ? leaf : safePathComponent(name);
    const params: Record<string, string> = {};
    const parameters = this.parameters;
    if (row >= 0 && parameters) for (const key of step.usedParameters) params[key] = parameters.value(key, row);
    return { index: i, name, step: step.name, stepIndex: s, workspace, fileName, params, row };
  }

  /** Renders instance `i`: its name, workspace, parameters and fully substituted commands. */
  instance(i: number): StepInstance {
    const { name, stepIndex: s, workspace, fileName, params, row } = this.describe(i);
    const step = this.steps[s]!;
    const absWorkspace = path.join(this.root, workspace);
    const render = (text: string): string => this.#render(s, row, absWorkspace, text);
    const run = mapStrings(step.run as Record<string, unknown>, render);
    return {
      index: i,
      name,
      step: step.name,
      stepIndex: s,
      workspace,
      fileName,
      params,
      cmd: run['cmd'] as string,
      restart: run['restart'] as string | undefined,
      run,
    };
  }

  /**
   * `--workspace-fanout N`: the numbered folders (`000/012/`) that put local instance `k` of a
   * step with `count` instances in a folder of at most N entries; empty when none are needed.
   */
  #buckets(count: number, k: number): string {
    const n = this.workspaceFanout;
    if (n === undefined || count <= n) return '';
    let levels = 0;
    for (let capacity = n; capacity < count; capacity *= n) levels++;
    const width = String(n - 1).length;
    let out = '';
    let bucket = Math.floor(k / n);
    const parts: string[] = [];
    for (let l = 0; l < levels; l++) {
      parts.unshift(String(bucket % n).padStart(width, '0'));
      bucket = Math.floor(bucket / n);
    }
    for (const p of parts) out += `${p}/`;
    return out;
  }

  /** Labels of the used parameters for instance `i`, sorted by key and joined with '.'. */
  #combo(s: number, i: number): string | undefined {
    const rows = this.#internals[s]!.rows;
    if (!rows) return undefined;
    const step = this.steps[s]!;
    return comboString(this.parameters!, step.usedParameters, rows[i - step.firstInstance]!);
  }

  #render(s: number, row: number, absWorkspace: string, text: string): string {
    const parameters = this.parameters;
    let out = text;
    if (row >= 0 && parameters) out = replaceTokens(out, (name) => parameterToken(parameters, name, row));
    const step = this.steps[s]!;
    return replaceTokens(out, (name) => {
      if (name === 'WORKSPACE') return absWorkspace;
      const target = workspaceTokenStep(name);
      if (target === undefined) return undefined;
      const t = this.#internals[s]!.workspaceRefs.get(target);
      if (t === undefined) return undefined;
      const ref = this.steps[t]!;
      if (step.funnelParents.includes(t) || !this.#internals[t]!.rows) return path.join(this.root, ref.dir);
      const combo = comboString(parameters!, ref.usedParameters, row);
      const local = this.#internals[t]!.rowToLocal![row]!;
      return path.join(
        this.root,
        ref.dir,
        `${this.#buckets(ref.instanceCount, local)}${this.hashWorkspaces ? md5(combo) : safePathComponent(combo)}`,
      );
    });
  }
}

/**
 * `procs: $(P)`, `walltime: $(W)`, `exclusive: $(X)`: once their tokens are replaced, counts must
 * be whole numbers, walltimes readable and no token may be left. Checked per instance, since each
 * parameter row gives its own text; every bad instance is reported (up to a limit per key), so the
 * user sees them all before anything runs. Values written without tokens were checked by the
 * schema and parseStudy.
 */
function checkSubstitutedValues(
  spec: StudyStep,
  run: RunInput,
  parameters: ParameterSet | undefined,
  used: readonly string[],
  rows: Int32Array | undefined,
  problems: ProblemList,
): void {
  const written = spec.run as Record<string, unknown>;
  const substituted = run as Record<string, unknown>;
  for (const key of [...Object.keys(RUN_COUNT_KEYS), 'walltime', 'exclusive']) {
    const raw = written[key];
    if (typeof raw !== 'string' || tokenNames(raw).length === 0) continue;
    const value = substituted[key] as string;
    const { wrong, allowed } = substitutedValueRule(key);
    const at = ['study', spec.fileIndex, 'run', key];
    const perRow =
      rows !== undefined &&
      parameters !== undefined &&
      tokenNames(value).some((n) => parameterOfToken(parameters, n) !== undefined);
    if (!perRow) {
      const problem = wrong(value);
      const who = rows ? `every instance of step '${spec.name}'` : `step '${spec.name}'`;
      if (problem)
        problems.error(SpecErrorCode.InvalidValue, at, `${who}: ${gives(key, raw, value)}: ${problem}`, allowed);
      continue;
    }
    let bad = 0;
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k]!;
      const text = replaceTokens(value, (n) => parameterToken(parameters, n, row));
      const problem = wrong(text);
      if (!problem) continue;
      if (bad++ >= MAX_REPORTED_PER_KEY) continue;
      const instance = `${spec.name}_${comboString(parameters, used, row)}`;
      problems.error(
        SpecErrorCode.InvalidValue,
        at,
        `instance '${instance}': ${gives(key, raw, text)}: ${problem}`,
        allowed,
      );
    }
    if (bad > MAX_REPORTED_PER_KEY) {
      problems.error(
        SpecErrorCode.InvalidValue,
        at,
        `... and ${bad - MAX_REPORTED_PER_KEY} more instances of step '${spec.name}' whose ${key} cannot be read`,
        allowed,
      );
    }
  }
}

const MAX_REPORTED_PER_KEY = 10;

/** `procs '$(P)' is 'two'`, or `procs '$(NOPE)'` where nothing was replaced. */
const gives = (key: string, raw: string, text: string): string =>
  text === raw ? `${key} '${raw}'` : `${key} '${raw}' is '${text}'`;

/** For a key checked after substitution: what is wrong with a text (undefined: nothing), and what is allowed. */
function substitutedValueRule(key: string): { wrong: (text: string) => string | undefined; allowed: string } {
  const leftover = (text: string): string | undefined => {
    const name = tokenNames(text)[0];
    if (name === undefined) return undefined;
    return (BUILTIN_TOKENS as readonly string[]).includes(name) || workspaceTokenStep(name) !== undefined
      ? `$(${name}) has no value before the step runs`
      : `$(${name}) names no variable, label, dependency or parameter`;
  };
  if (key === 'walltime') {
    return { wrong: (t) => leftover(t) ?? (isWalltime(t) ? undefined : 'not a walltime'), allowed: WALLTIME_FORMS };
  }
  if (key === 'exclusive') {
    return { wrong: leftover, allowed: 'allowed: a $(NAME) of a variable, label or parameter' };
  }
  const min = RUN_COUNT_KEYS[key]!;
  return {
    wrong: (t) => {
      const n = readCount(t);
      if (n === undefined) return leftover(t) ?? 'not a whole number';
      return n < min ? `less than ${min}` : undefined;
    },
    allowed: `allowed: a whole number of at least ${min}`,
  };
}

/** @internal Per-step data that only expansion and rendering use. */
interface StepInternals {
  /** Representative parameter row of each instance, or undefined if unparameterized. */
  readonly rows: Int32Array | undefined;
  /** Instance (local index) that each parameter row collapsed into. */
  readonly rowToLocal: Int32Array | undefined;
  /** `$(X.workspace)` references of cmd/restart: step name -> step index. */
  readonly workspaceRefs: ReadonlyMap<string, number>;
}

/** `$(P)`, `$(P.label)`, `$(P.name)` for a row. */
function parameterToken(parameters: ParameterSet, name: string, row: number): string | undefined {
  if (parameters.has(name)) return parameters.value(name, row);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const key = name.slice(0, dot);
  if (!parameters.has(key)) return undefined;
  const field = name.slice(dot + 1);
  if (field === 'label') return parameters.label(key, row);
  if (field === 'name') return parameters.name(key);
  return undefined;
}

function comboString(parameters: ParameterSet, used: readonly string[], row: number): string {
  let out = '';
  for (let k = 0; k < used.length; k++) out += (k ? '.' : '') + parameters.label(used[k]!, row);
  return out;
}

function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

/** The parameter a token name refers to (`P`, `P.label`, `P.name`), if any. Exact, not prefix. */
function parameterOfToken(parameters: ParameterSet, name: string): string | undefined {
  if (parameters.has(name)) return name;
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const key = name.slice(0, dot);
  const field = name.slice(dot + 1);
  return (field === 'label' || field === 'name') && parameters.has(key) ? key : undefined;
}

/**
 * Expands a parsed study into its step instances. Throws SpecError for workspace references
 * to steps not created yet, unsafe workspace names and studies over `maxInstances`.
 */
export function expandStudy(study: Study, options: ExpandOptions): ExpandedStudy {
  const problems = new ProblemList(study.positions, study.file);
  const env = resolveEnvironment(study, options);
  const parameters = options.parameters ?? study.parameters;
  const maxInstances = options.maxInstances ?? DEFAULT_MAX_INSTANCES;
  const hash = options.hashWorkspaces ?? false;

  const stepIndexByName = new Map<string, number>(); // name -> index in `steps` (staging order)
  const steps: ExpandedStep[] = [];
  const internals: StepInternals[] = [];
  let nextInstance = 0;

  for (const fileIndex of study.order) {
    const spec = study.steps[fileIndex]!;
    const at = (...rest: (string | number)[]): (string | number)[] => ['study', fileIndex, ...rest];
    const run = mapStrings(spec.run, (s) => replaceTokens(s, (n) => env.get(n)));
    const description = replaceTokens(spec.description, (n) => env.get(n));

    // Parameters the step uses itself (any field but depends, as Maestro scans them all).
    const used = new Set<string>();
    if (parameters) {
      const scan = (s: string): void => {
        for (const n of tokenNames(s)) {
          const key = parameterOfToken(parameters, n);
          if (key !== undefined) used.add(key);
        }
      };
      scan(description);
      forEachString({ ...run, depends: undefined }, scan);
    }
    const parents: number[] = [];
    const funnelParents: number[] = [];
    for (const dep of spec.depends) {
      const p = stepIndexByName.get(dep.step)!; // parse ordered parents first
      if (dep.funnel) funnelParents.push(p);
      else {
        parents.push(p);
        for (const k of steps[p]!.usedParameters) used.add(k);
      }
    }
    const workspaceRefs = new Map<string, number>();
    const commandText = `${run.cmd} ${run.restart ?? ''}`;
    for (const n of tokenNames(commandText)) {
      const target = workspaceTokenStep(n);
      if (target === undefined) continue;
      const t = stepIndexByName.get(target);
      if (t === undefined) {
        const exists = study.steps.some((s) => s.name === target);
        problems.error(
          exists ? SpecErrorCode.WorkspaceOrder : SpecErrorCode.UnknownStep,
          at('run', run.cmd.includes(`$(${n})`) ? 'cmd' : 'restart'),
          exists
            ? `$(${n}) is used before step '${target}' has a workspace: '${target}' does not run before '${spec.name}'`
            : `$(${n}) names no step${didYouMean(
                target,
                study.steps.map((s) => s.name),
              )}`,
          exists
            ? `add '${target}' (or '${target}_*') to the depends of '${spec.name}'`
            : `use $(STEP.workspace) with one of: ${study.steps.map((s) => s.name).join(', ')}`,
        );
        continue;
      }
      workspaceRefs.set(target, t);
      if (!funnelParents.includes(t)) for (const k of steps[t]!.usedParameters) used.add(k);
    }
    const usedParameters = [...used].sort();
    const dir = safePathComponent(spec.name);

    let rows: Int32Array | undefined;
    let rowToLocal: Int32Array | undefined;
    let count = 1;
    if (usedParameters.length > 0 && parameters) {
      ({ rows, rowToLocal } = collapseRows(parameters, usedParameters, nextInstance, maxInstances));
      count = rows.length;
      checkWorkspaceNames(parameters, usedParameters, rows, spec.name, hash, problems, at());
    }
    checkSubstitutedValues(spec, run, parameters, usedParameters, rows, problems);
    if (nextInstance + count > maxInstances) {
      problems.error(
        SpecErrorCode.TooManyInstances,
        at('name'),
        `the study expands to more than ${maxInstances.toLocaleString('en-US')} step instances (reached at step '${spec.name}')`,
        'allow more with --max-instances N, or reduce the parameters',
      );
      problems.throwIfAny();
    }
    stepIndexByName.set(spec.name, steps.length);
    steps.push({
      name: spec.name,
      description,
      fileIndex,
      usedParameters,
      parents,
      funnelParents,
      firstInstance: nextInstance,
      instanceCount: count,
      dir,
      run,
    });
    internals.push({ rows, rowToLocal, workspaceRefs });
    nextInstance += count;
  }
  problems.throwIfAny();
  return new ExpandedStudy(
    study.name,
    study.description,
    options.root,
    options.specRoot,
    study.batch,
    steps,
    parameters,
    hash,
    internals,
    options.workspaceFanout,
  );
}

/**
 * One instance per distinct label combination; later rows with the same labels collapse into
 * the first. An open-addressing table of row numbers keyed by a string hash keeps this at two
 * typed arrays instead of a Map holding a million label strings.
 */
function collapseRows(
  parameters: ParameterSet,
  used: readonly string[],
  before: number,
  maxInstances: number,
): { rows: Int32Array; rowToLocal: Int32Array } {
  const n = parameters.length;
  const rowToLocal = new Int32Array(n);
  const rows = new Int32Array(n);
  let count = 0;
  let capacity = 16;
  while (capacity < n * 2) capacity *= 2;
  const mask = capacity - 1;
  const table = new Int32Array(capacity).fill(-1); // local instance index, or -1
  for (let r = 0; r < n; r++) {
    const combo = comboString(parameters, used, r);
    let h = hashString(combo) & mask;
    let local = -1;
    for (;;) {
      const candidate = table[h]!;
      if (candidate === -1) break;
      if (comboString(parameters, used, rows[candidate]!) === combo) {
        local = candidate;
        break;
      }
      h = (h + 1) & mask;
    }
    if (local === -1) {
      local = count++;
      rows[local] = r;
      table[h] = local;
      if (before + count > maxInstances) break; // the caller reports it
    }
    rowToLocal[r] = local;
  }
  return { rows: rows.slice(0, count), rowToLocal };
}

/** FNV-1a over UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) {
    h ^= s.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Workspace folders must stay inside the step folder and not collide after cleaning. */
function checkWorkspaceNames(
  parameters: ParameterSet,
  used: readonly string[],
  rows: Int32Array,
  stepName: string,
  hash: boolean,
  problems: ProblemList,
  stepPath: (string | number)[],
): void {
  if (hash) return; // md5 names are always safe and distinct
  const MAX_REPORTED = 10;
  let reported = 0;
  let anyCleaned = false;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    const combo = comboString(parameters, used, row);
    const reason = unsafeComponentReason(combo);
    if (reason) {
      if (reported++ < MAX_REPORTED) {
        const culprit = used.find((key) => unsafeComponentReason(parameters.label(key, row)) !== undefined) ?? used[0]!;
        problems.error(
          SpecErrorCode.UnsafePath,
          ['global.parameters', culprit, 'values', row],
          `the workspace name '${combo}' of step '${stepName}' ${reason}`,
          "parameter labels must name a folder: no NUL, and not '.' or '..'",
        );
      }
    } else if (!anyCleaned && safePathComponent(combo) !== combo) anyCleaned = true;
  }
  // Distinct labels can only meet in one folder if cleaning dropped characters somewhere.
  if (anyCleaned) {
    const seen = new Map<string, string>();
    for (let k = 0; k < rows.length; k++) {
      const combo = comboString(parameters, used, rows[k]!);
      const safe = safePathComponent(combo);
      const other = seen.get(safe);
      if (other === undefined) seen.set(safe, combo);
      else if (reported++ < MAX_REPORTED) {
        problems.error(
          SpecErrorCode.DuplicateWorkspace,
          stepPath,
          `instances '${stepName}_${other}' and '${stepName}_${combo}' would share the workspace '${safe}' (characters outside letters, digits and -_.() are dropped from folder names)`,
          'make the labels differ in letters or digits, or run with --hashws',
        );
      }
    }
  }
  if (reported > MAX_REPORTED) {
    problems.error(
      SpecErrorCode.UnsafePath,
      stepPath,
      `... and ${reported - MAX_REPORTED} more workspace problems in step '${stepName}'`,
      'fix the ones above first',
    );
  }
}
