/**
 * An expanded study: its steps, and their instances kept compact (typed arrays of parameter rows
 * per step) and rendered on demand, so a study of a million instances costs megabytes, not
 * gigabytes. Built by {@link expandStudy} (expand-study.ts).
 */
import path from 'node:path';
import type { ParameterSet } from './parameters.js';
import { comboString, parameterToken } from './parameter-tokens.js';
import type { BatchSettings } from './study.js';
import { safePathComponent } from './path-names.js';
import type { RunInput } from './schema.js';
import { mapStrings, replaceTokens, workspaceTokenStep } from './tokens.js';
import { fanoutBuckets, workspaceLeaf } from './workspace-layout.js';

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
    const leaf = combo === undefined ? undefined : workspaceLeaf(combo, this.hashWorkspaces);
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

  /** `--workspace-fanout`: the numbered folders of local instance `k` of a step of `count`. */
  #buckets(count: number, k: number): string {
    return fanoutBuckets(this.workspaceFanout, count, k);
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
        `${this.#buckets(ref.instanceCount, local)}${workspaceLeaf(combo, this.hashWorkspaces)}`,
      );
    });
  }
}

/** @internal Per-step data that only expansion and rendering use. */
export interface StepInternals {
  /** Representative parameter row of each instance, or undefined if unparameterized. */
  readonly rows: Int32Array | undefined;
  /** Instance (local index) that each parameter row collapsed into. */
  readonly rowToLocal: Int32Array | undefined;
  /** `$(X.workspace)` references of cmd/restart: step name -> step index. */
  readonly workspaceRefs: ReadonlyMap<string, number>;
}
