/**
 * Study file text -> a checked {@link Study}: YAML read as Maestro reads it, every key validated,
 * names, dependencies, variables and parameters checked. Every problem is reported at once:
 * when parts of the spec fail the schema, the later checks still run on the parts that pass
 * (usable-input.ts), so one pass names every mistake. Nothing here touches the file system.
 */
import { checkVariables, spreadUnusable } from './check-environment.js';
import { checkWorkerGroupSteps } from './check-merlin-workers.js';
import { checkSteps, checkWalltime, orderSteps } from './check-steps.js';
import { SpecError, SpecErrorCode } from './errors.js';
import { loadYaml, YamlLoadError, type LoadedYaml } from './load-yaml.js';
import { ParameterSet, type ParameterDef } from './parameters.js';
import { ProblemList } from './problems.js';
import { pyStr, type PyValue } from './py-values.js';
import { BATCH_TYPES, BatchInput, StudyInput } from './schema.js';
import { describe, reportSchemaIssues } from './schema-problems.js';
import type { ParsedStudy, ParseStudyOptions, Study, StudyReading } from './study.js';
import { didYouMean } from './suggest.js';
import { usableInput } from './usable-input.js';

/** Parses and checks a study specification; throws {@link SpecError} listing every problem. */
export function parseStudy(text: string, options: ParseStudyOptions = {}): ParsedStudy {
  const { study, errors, warnings } = readStudy(text, options);
  if (errors.length > 0 || !study) throw new SpecError(errors);
  return { study, warnings };
}

/**
 * Reads and checks a study specification without throwing for its problems: every problem of
 * every check, and the study made of whatever parts are usable despite them (for checks made
 * later, such as expansion). Only a file that is not a YAML mapping gives no study.
 */
export function readStudy(text: string, options: ParseStudyOptions = {}): StudyReading {
  const file = options.file;
  let loaded: LoadedYaml;
  try {
    loaded = loadYaml(text, file);
  } catch (err) {
    if (err instanceof YamlLoadError) return { study: undefined, errors: err.problems, warnings: [] };
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
    return { study: undefined, errors: problems.sorted(), warnings: problems.warnings };
  }
  const rawStudy = (raw as Record<string, PyValue>)['study'];
  const noSteps = rawStudy === null || (Array.isArray(rawStudy) && rawStudy.length === 0);
  if (noSteps) {
    problems.error(
      SpecErrorCode.NoSteps,
      ['study'],
      'the study has no steps',
      'list at least one step under study:',
      true,
    );
  }
  const parsed = StudyInput.safeParse(raw);
  let usable;
  if (parsed.success) {
    usable = { input: parsed.data, fileIndices: parsed.data.study.map((_, i) => i), unusable: new Set<string>() };
  } else {
    // `study: ~` is reported as having no steps, not again as the wrong type.
    const issues = parsed.error.issues.filter((i) => !(noSteps && i.path.length === 1 && i.path[0] === 'study'));
    reportSchemaIssues(issues, raw, problems);
    usable = usableInput(raw as Record<string, PyValue>);
  }
  const { input, fileIndices } = usable;
  const unusable = new Set(usable.unusable);
  warnUnknownBatchKeys(raw as Record<string, PyValue>, problems);

  const env = input.env ?? {};
  const variables = checkVariables(env, problems, unusable);
  const outputPathVar = variables.find((v) => v.name === 'OUTPUT_PATH');
  const steps = checkSteps(input.study, fileIndices, unusable, problems);
  const order = orderSteps(steps, problems);
  checkWorkerGroupSteps(input.merlin, steps, unusable, problems);
  const parameters = toParameterSet(input['global.parameters'] ?? {}, problems, unusable);
  spreadUnusable(variables, env.dependencies, unusable);
  // The default walltime of the allocations `maestro workers launch` and --autoscale submit.
  checkWalltime(input.batch?.walltime, ['batch', 'walltime'], problems);

  const batch = input.batch ?? {};
  const errors = problems.sorted();
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
    unusableNames: errors.length > 0 ? unusable : undefined,
  };
  return { study, errors, warnings: problems.warnings };
}

/** Turns `global.parameters` (or a generator's output) into a checked {@link ParameterSet}. */
function toParameterSet(
  block: Record<string, { values: unknown[]; label: string }>,
  problems: ProblemList,
  unusable: Set<string>,
): ParameterSet | undefined {
  const defs: ParameterDef[] = Object.entries(block).map(([key, p]) => ({
    key,
    values: p.values.map((v) => pyStr(v as PyValue)),
    label: p.label,
  }));
  if (defs.length === 0) return undefined;
  const set = ParameterSet.from(defs, problems, (key, field) => ['global.parameters', key, ...(field ? [field] : [])]);
  if (set === undefined) for (const d of defs) unusable.add(d.key);
  return set;
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
