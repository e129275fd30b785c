/**
 * `procs: $(P)`, `walltime: $(W)`, `exclusive: $(X)`: once their tokens are replaced, counts must
 * be whole numbers, walltimes readable and no token may be left. Values written without tokens
 * were checked by the schema and parseStudy.
 */
import { SpecErrorCode } from './errors.js';
import type { ParameterSet } from './parameters.js';
import { comboString, parameterOfToken, parameterToken } from './parameter-tokens.js';
import { BUILTIN_TOKENS, type StudyStep } from './study.js';
import type { ProblemList } from './problems.js';
import { isWalltime, readCount, RUN_COUNT_KEYS, WALLTIME_FORMS } from './run-values.js';
import type { RunInput } from './schema.js';
import { replaceTokens, tokenNames, workspaceTokenStep } from './tokens.js';

/** Bad instances reported per key of a step; the rest are counted in one last problem. */
const MAX_REPORTED_PER_KEY = 10;

/**
 * Checked per instance, since each parameter row gives its own text; every bad instance is
 * reported (up to a limit per key), so the user sees them all before anything runs. A value that
 * uses a name in `unusable` (its definition has a problem of its own) is not checked.
 */
export function checkSubstitutedValues(
  spec: StudyStep,
  run: RunInput,
  parameters: ParameterSet | undefined,
  used: readonly string[],
  rows: Int32Array | undefined,
  unusable: ReadonlySet<string> | undefined,
  problems: ProblemList,
): void {
  const written = spec.run as Record<string, unknown>;
  const substituted = run as Record<string, unknown>;
  for (const key of [...Object.keys(RUN_COUNT_KEYS), 'walltime', 'exclusive']) {
    const raw = written[key];
    if (typeof raw !== 'string' || tokenNames(raw).length === 0) continue;
    const value = substituted[key] as string;
    // A name whose definition has a problem (reported already) gives no value worth checking.
    if (unusable && (usesUnusable(raw, unusable) || usesUnusable(value, unusable))) continue;

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

/** Whether `text` still holds a token whose definition was left out for its problems. */
function usesUnusable(text: string, unusable: ReadonlySet<string>): boolean {
  return tokenNames(text).some((n) => unusable.has(n) || unusable.has(n.slice(0, Math.max(0, n.lastIndexOf('.')))));
}

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
