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
 * The result, an {@link ExpandedStudy}, keeps instances compact and renders them on demand
 * (expanded-study.ts).
 */
import { checkSubstitutedValues } from './check-substituted-values.js';
import { merlinReturnCodeToken } from './merlin-return-codes.js';
import { checkStepFileName, checkWorkspaceNames } from './check-workspaces.js';
import { collapseRows } from './collapse-rows.js';
import { SpecErrorCode } from './errors.js';
import { resolveEnvironment, type EnvironmentPlaces } from './environment.js';
import { ExpandedStudy, type ExpandedStep, type StepInternals } from './expanded-study.js';
import { sampleSettings, usesSamples, type SampleSettings, type StudySamples } from './merlin-samples.js';
import type { ParameterSet } from './parameters.js';
import { sampleFolders } from './sample-folders.js';
import type { SampleTable } from './sample-table.js';
import { parameterOfToken } from './parameter-tokens.js';
import type { Study, StudyStep } from './study.js';
import { safePathComponent } from './path-names.js';
import { ProblemList } from './problems.js';
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
  /**
   * Merlin samples, read from `merlin.samples.file`. A step that uses a sample token runs once
   * per sample and parameter combination; without the table (before the samples exist, as in
   * `validate`) such a step expands once per combination, its sample tokens left as written.
   */
  readonly samples?: SampleTable | undefined;
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
  const samples = studySamples(study, options.samples, parameters, problems);

  for (const k of study.order) {
    const spec = study.steps[k]!;
    const fileIndex = spec.fileIndex;
    const at = (...rest: (string | number)[]): (string | number)[] => ['study', fileIndex, ...rest];
    const run = mapStrings(spec.run, (s) => replaceTokens(s, (n) => env.get(n) ?? merlinReturnCodeToken(n)));
    const description = replaceTokens(spec.description, (n) => env.get(n));

    const used = ownParameters(parameters, description, run);
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
    const workspaceRefs = workspaceReferences(study, spec, run, stepIndexByName, problems);
    for (const t of workspaceRefs.values()) {
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
    } else checkStepFileName(spec.name, problems, at());
    // Samples multiply a step's instances: sample `s` of combination `c` is local instance c*S+s.
    const perCombo = samples && usesSamples(run.cmd, run.restart, samples.labels) ? samples.table.count : 0;
    if (perCombo > 0) count *= perCombo;
    checkSubstitutedValues(spec, run, parameters, usedParameters, rows, study.unusableNames, problems);
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
    internals.push({ rows, rowToLocal, workspaceRefs, samples: perCombo });
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
    samples,
  );
}

/** The study's samples, checked against `merlin.samples` and the parameters; undefined without a samples block. */
function studySamples(
  study: Study,
  table: SampleTable | undefined,
  parameters: ParameterSet | undefined,
  problems: ProblemList,
): StudySamples | undefined {
  const settings: SampleSettings | undefined = sampleSettings(study);
  if (!settings) return undefined;
  const at = ['merlin', 'samples'];
  for (const label of settings.labels) {
    if (parameters?.keys.includes(label)) {
      problems.error(
        SpecErrorCode.Samples,
        [...at, 'column_labels'],
        `the column label '${label}' is also a parameter in global.parameters`,
        'rename the column or the parameter: Merlin refuses the clash too',
      );
    }
  }
  if (table && table.columns !== settings.labels.length) {
    problems.error(
      SpecErrorCode.Samples,
      [...at, 'column_labels'],
      `the samples file has ${table.columns} column(s), column_labels names ${settings.labels.length}`,
      'one label per column of the samples file',
    );
  }
  if (table && table.count === 0) {
    problems.error(SpecErrorCode.Samples, [...at, 'file'], 'the samples file holds no samples', 'at least one row');
  }
  if (settings.levelMaxDirs < 2) {
    problems.error(
      SpecErrorCode.Samples,
      [...at, 'level_max_dirs'],
      `level_max_dirs is ${settings.levelMaxDirs}`,
      'a whole number of at least 2 (folders per level of the sample hierarchy)',
    );
    return undefined;
  }
  // Before the samples exist (validate, expand) sample steps expand as written, tokens kept.
  if (!table || table.count === 0 || table.columns !== settings.labels.length) return undefined;
  return { labels: settings.labels, table, folders: sampleFolders(table.count, settings.levelMaxDirs) };
}

/** Parameters a step uses itself: any field but depends, as Maestro scans them all. */
function ownParameters(parameters: ParameterSet | undefined, description: string, run: RunInput): Set<string> {
  const used = new Set<string>();
  if (!parameters) return used;
  const scan = (s: string): void => {
    for (const n of tokenNames(s)) {
      const key = parameterOfToken(parameters, n);
      if (key !== undefined) used.add(key);
    }
  };
  scan(description);
  forEachString({ ...run, depends: undefined }, scan);
  return used;
}

/**
 * The steps whose workspaces `$(X.workspace)` in cmd or restart names: step name -> index among
 * the steps expanded so far. A step not expanded yet (it does not run before this one) or not in
 * the study is a problem.
 */
function workspaceReferences(
  study: Study,
  spec: StudyStep,
  run: RunInput,
  stepIndexByName: ReadonlyMap<string, number>,
  problems: ProblemList,
): Map<string, number> {
  const workspaceRefs = new Map<string, number>();
  const commandText = `${run.cmd} ${run.restart ?? ''}`;
  for (const n of tokenNames(commandText)) {
    const target = workspaceTokenStep(n);
    if (target === undefined) continue;
    const t = stepIndexByName.get(target);
    if (t !== undefined) {
      workspaceRefs.set(target, t);
      continue;
    }
    if (study.unusableNames?.has(target)) continue; // a step left out for its own problems
    const exists = study.steps.some((s) => s.name === target);
    problems.error(
      exists ? SpecErrorCode.WorkspaceOrder : SpecErrorCode.UnknownStep,
      ['study', spec.fileIndex, 'run', run.cmd.includes(`$(${n})`) ? 'cmd' : 'restart'],
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
  }
  return workspaceRefs;
}
