/** `study:`: step names, what each step depends on, the order steps run in, and their walltimes. */
import { SpecErrorCode } from './errors.js';
import type { KeyPath } from './load-yaml.js';
import { byteLength, longName, MAX_FOLDER_NAME_BYTES, safePathComponent, unsafeComponentReason } from './path-names.js';
import type { ProblemList } from './problems.js';
import { isWalltime, WALLTIME_FORMS } from './run-values.js';
import type { StepInput } from './schema.js';
import type { StepDependency, StudyStep } from './study.js';
import { didYouMean } from './suggest.js';
import { tokenNames } from './tokens.js';

/**
 * Checks step names (unique, usable as folder names) and each step's `depends` (known steps, no
 * repeats, not itself) and walltime. `fileIndices` gives each step's place in the file; a
 * dependency on a step in `unusable` (left out for its own problems) is not reported again.
 */
export function checkSteps(
  input: readonly StepInput[],
  fileIndices: readonly number[],
  unusable: ReadonlySet<string>,
  problems: ProblemList,
): StudyStep[] {
  const names = new Map<string, number>();
  input.forEach((s, k) => {
    const i = fileIndices[k]!;
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
    } else if (byteLength(safePathComponent(s.name)) > MAX_FOLDER_NAME_BYTES) {
      problems.error(
        SpecErrorCode.NameTooLong,
        path,
        `step name ${longName(s.name)} is too long to name the step's workspace folder`,
        `at most ${MAX_FOLDER_NAME_BYTES} bytes once characters other than letters, digits and - _ . ( ) are dropped: the longest folder name file systems take`,
      );
    }
  });
  return input.map((s, k) => {
    const i = fileIndices[k]!;
    const depends: StepDependency[] = [];
    const seen = new Set<string>();
    (s.run.depends ?? []).forEach((written, j) => {
      const path = ['study', i, 'run', 'depends', j];
      if (written === '') return; // not a step name: the schema said so
      if (seen.has(written)) {
        problems.error(SpecErrorCode.DuplicateName, path, `'${written}' is listed twice`, 'list each dependency once');
        return;
      }
      seen.add(written);
      const dep = resolveDependency(written, names);
      if (!dep) {
        const base = written.replace(/_?\*$/, '');
        if (unusable.has(base)) return;
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
export function checkWalltime(value: string | number | undefined, path: KeyPath, problems: ProblemList): void {
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
export function orderSteps(steps: readonly StudyStep[], problems: ProblemList): number[] {
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
