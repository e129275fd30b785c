/** `env:`: variables, labels and dependencies, their names and the loops their values could make. */
import { SpecErrorCode } from './errors.js';
import type { KeyPath } from './load-yaml.js';
import type { ProblemList } from './problems.js';
import { pyStr, type PyValue } from './py-values.js';
import type { StudyInput } from './schema.js';
import { BUILTIN_TOKENS, type StudyVariable } from './study.js';
import { tokenNames } from './tokens.js';

/**
 * Checks the variables and labels (not empty, not a built-in name), that every name of the
 * environment is used once, and that no value refers to itself through others. Returns the
 * variables and labels; names with problems are added to `unusable`.
 */
export function checkVariables(
  env: NonNullable<StudyInput['env']>,
  problems: ProblemList,
  unusable: Set<string>,
): StudyVariable[] {
  const out: StudyVariable[] = [];
  const seen = new Map<string, string>();
  const claim = (name: string, path: KeyPath, what: string): void => {
    const previous = seen.get(name);
    if (previous !== undefined) {
      unusable.add(name);
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
        unusable.add(name);
        problems.error(SpecErrorCode.EmptyVariable, path, `${kind} ${name} is empty`, 'give it a value, or remove it');
      }
      if ((BUILTIN_TOKENS as readonly string[]).includes(name) && name !== 'OUTPUT_PATH') {
        unusable.add(name);
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
  checkEnvironmentCycles(out, env.dependencies, problems, unusable);
  return out;
}

/** A name the environment gives a value: where it is written, and the text its value comes from. */
interface EnvName {
  readonly name: string;
  readonly text: string;
  readonly at: KeyPath;
  readonly kind: 'variable' | 'dependency';
}

type Dependencies = NonNullable<NonNullable<StudyInput['env']>['dependencies']>;

function envNames(vars: readonly StudyVariable[], deps: Dependencies | undefined): EnvName[] {
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
  return names;
}

/**
 * Adds to `unusable` every variable, label or dependency whose value uses an unusable name, so
 * that what uses them in turn is not checked against a value that is wrong for a reason already
 * reported (`BLANK: " "` is refused; `walltime: $(BLANK)` is then not refused a second time).
 */
export function spreadUnusable(
  vars: readonly StudyVariable[],
  deps: Dependencies | undefined,
  unusable: Set<string>,
): void {
  if (unusable.size === 0) return;
  const names = envNames(vars, deps);
  for (let changed = true; changed;) {
    changed = false;
    for (const n of names) {
      if (unusable.has(n.name) || !tokenNames(n.text).some((t) => unusable.has(t))) continue;
      unusable.add(n.name);
      changed = true;
    }
  }
}

/**
 * Variables, labels and dependency paths may refer to each other (resolved fully, not in one
 * pass; environment.ts); refuse loops, naming them.
 */
function checkEnvironmentCycles(
  vars: readonly StudyVariable[],
  deps: Dependencies | undefined,
  problems: ProblemList,
  unusable: Set<string>,
): void {
  const names = envNames(vars, deps);
  const byName = new Map<string, EnvName>();
  for (const n of names) if (!byName.has(n.name)) byName.set(n.name, n); // duplicates: reported already
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'active') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      for (const n of cycle) unusable.add(n);
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
