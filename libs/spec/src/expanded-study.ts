/**
 * An expanded study: its steps, and their instances kept compact (typed arrays of parameter rows
 * per step) and rendered on demand, so a study of a million instances costs megabytes, not
 * gigabytes. Built by {@link expandStudy} (expand-study.ts).
 */
import path from 'node:path';
import type { ParameterSet } from './parameters.js';
import { comboString, parameterToken } from './parameter-tokens.js';
import type { StudySamples } from './merlin-samples.js';
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

/** Where an instance sits in its step: its parameter combination and, in a sample step, its sample. */
interface Place {
  /** Local index of the combination (0 for an unparameterized step). */
  readonly combo: number;
  /** Sample id, or -1 outside sample steps. */
  readonly sample: number;
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
    /** Merlin samples, when the study has a `merlin.samples` block. */
    readonly samples: StudySamples | undefined = undefined,
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
    return rows ? rows[this.#place(s, i).combo]! : -1;
  }

  /** Samples each combination of step `s` runs: 0 when it is no sample step. */
  samplesPerCombination(s: number): number {
    return this.#internals[s]!.samples;
  }

  /** The sample instance `i` runs, or -1 outside sample steps. */
  sampleOf(i: number): number {
    return this.#place(this.stepIndexOf(i), i).sample;
  }

  /**
   * The instances of one-to-one parent step `p` that instance `i` depends on, as a range: one
   * instance, or, when the parent runs per sample and `i` does not, every sample of the matching
   * combination (as Merlin waits for the whole sample expansion). A sample step under a sample
   * step waits for the same sample of its parent, as in Merlin's chains.
   */
  parentRange(i: number, p: number): { readonly first: number; readonly count: number } {
    const parent = this.steps[p]!;
    const rowToLocal = this.#internals[p]!.rowToLocal;
    const combo = rowToLocal ? rowToLocal[this.rowOf(i)]! : 0;
    const perCombo = this.#internals[p]!.samples;
    if (perCombo === 0) return { first: parent.firstInstance + combo, count: 1 };
    const sample = this.sampleOf(i);
    if (sample >= 0) return { first: parent.firstInstance + combo * perCombo + sample, count: 1 };
    return { first: parent.firstInstance + combo * perCombo, count: perCombo };
  }

  /** The first instance of one-to-one parent step `p` that instance `i` depends on (see parentRange). */
  parentInstance(i: number, p: number): number {
    return this.parentRange(i, p).first;
  }

  /** Every parent instance of `i`: one-to-one parents, then all instances of funnel parents. */
  parentsOf(i: number): number[] {
    const step = this.steps[this.stepIndexOf(i)]!;
    const out: number[] = [];
    for (const p of step.parents) {
      const { first, count } = this.parentRange(i, p);
      for (let k = 0; k < count; k++) out.push(first + k);
    }
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
    return withSample(combo === undefined ? step.name : `${step.name}_${combo}`, this.#place(s, i).sample);
  }

  /** Who instance `i` is, without rendering its commands: name, workspace, parameters. */
  describe(i: number): InstanceSummary {
    const s = this.stepIndexOf(i);
    const step = this.steps[s]!;
    const internals = this.#internals[s]!;
    const place = this.#place(s, i);
    const row = internals.rows ? internals.rows[place.combo]! : -1;
    const combo = this.#combo(s, i);
    const comboName = combo === undefined ? step.name : `${step.name}_${combo}`;
    const name = withSample(comboName, place.sample);
    const leaf = combo === undefined ? undefined : workspaceLeaf(combo, this.hashWorkspaces);
    const comboWorkspace =
      leaf === undefined ? step.dir : `${step.dir}/${this.#buckets(this.#comboCount(s), place.combo)}${leaf}`;
    // Merlin's sample folders go under the combination's workspace; the script keeps its name.
    const samplePath = place.sample >= 0 ? this.samples!.folders.pathOf(place.sample) : '';
    const workspace = samplePath ? `${comboWorkspace}/${samplePath}` : comboWorkspace;
    const fileName = leaf !== undefined && this.hashWorkspaces ? leaf : safePathComponent(comboName);
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
    const sample = this.#place(s, i).sample;
    const render = (text: string): string => this.#render(s, row, absWorkspace, this.#sampleTokens(sample, text));
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
    return comboString(this.parameters!, step.usedParameters, rows[this.#place(s, i).combo]!);
  }

  #place(s: number, i: number): Place {
    const local = i - this.steps[s]!.firstInstance;
    const perCombo = this.#internals[s]!.samples;
    if (perCombo === 0) return { combo: local, sample: -1 };
    return { combo: Math.floor(local / perCombo), sample: local % perCombo };
  }

  /** Parameter combinations of step `s` (its instances, unless it runs per sample). */
  #comboCount(s: number): number {
    const perCombo = this.#internals[s]!.samples;
    const count = this.steps[s]!.instanceCount;
    return perCombo === 0 ? count : count / perCombo;
  }

  /**
   * Merlin's sample tokens: in a sample instance the column labels, `$(MERLIN_SAMPLE_ID)` and
   * `$(MERLIN_SAMPLE_PATH)` (relative to the step's workspace); in every step of a study with
   * samples `$(MERLIN_GLOB_PATH)` and `$(MERLIN_PATHS_ALL)` (merlin/spec/expansion.py).
   */
  #sampleTokens(sample: number, text: string): string {
    const samples = this.samples;
    if (!samples || !text.includes('$(')) return text;
    return replaceTokens(text, (name) => {
      if (name === 'MERLIN_GLOB_PATH') return samples.folders.globPath;
      if (name === 'MERLIN_PATHS_ALL') return samples.folders.pathsAll();
      if (sample < 0) return undefined;
      const upper = name.toUpperCase();
      if (upper === 'MERLIN_SAMPLE_ID') return String(sample);
      if (upper === 'MERLIN_SAMPLE_PATH') return samples.folders.pathOf(sample);
      const column = samples.labels.indexOf(name);
      return column >= 0 ? samples.table.value(sample, column) : undefined;
    });
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
        `${this.#buckets(this.#comboCount(t), local)}${workspaceLeaf(combo, this.hashWorkspaces)}`,
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
  /** Samples per parameter combination of a Merlin sample step; 0 for other steps. */
  readonly samples: number;
}

/** A sample instance's name: its combination's, and the sample id. */
function withSample(name: string, sample: number): string {
  return sample < 0 ? name : `${name}_sample${sample}`;
}
