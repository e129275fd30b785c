/**
 * Study parameters: named columns of values, zipped row by row (Maestro never builds a
 * Cartesian product: row i takes value i of every parameter). Tokens per parameter P:
 * `$(P)` is the value, `$(P.label)` the label with `%%` replaced by the value, `$(P.name)` the
 * name (the key unless a generator set one).
 */
import { SpecErrorCode } from './errors.js';
import { ProblemList } from './problems.js';

/** One parameter, with its values already turned into text the way Python's str() does. */
export interface ParameterDef {
  readonly key: string;
  /** `str(value)` of each value, in row order. */
  readonly values: readonly string[];
  /** A template with `%%` for the value, or one label per value. Default `KEY.%%`. */
  readonly label?: string | readonly string[] | undefined;
  /** What `$(KEY.name)` gives. Default: the key. */
  readonly name?: string | undefined;
}

export const LABEL_TOKEN = '%%';
const KEY_RE = /^[^\s$().]+$/;

export class ParameterSet {
  /** Parameter keys in definition order. */
  readonly keys: readonly string[];
  /** Number of rows (combinations). */
  readonly length: number;
  readonly #defs: ReadonlyMap<string, ParameterDef>;
  /** Label templates split at `%%` once, so a label is one join per row. */
  readonly #templates: ReadonlyMap<string, readonly string[]>;

  private constructor(defs: readonly ParameterDef[]) {
    this.keys = defs.map((d) => d.key);
    this.length = defs[0]?.values.length ?? 0;
    this.#defs = new Map(defs.map((d) => [d.key, d]));
    this.#templates = new Map(
      defs
        .filter((d) => !Array.isArray(d.label))
        .map((d) => [d.key, ((d.label as string | undefined) ?? `${d.key}.${LABEL_TOKEN}`).split(LABEL_TOKEN)]),
    );
  }

  /**
   * Checks the definitions (same length, labels per value, usable keys) and builds the set.
   * Problems go to `problems` under `pathOf(key)`; returns undefined if there were any.
   */
  static from(
    defs: readonly ParameterDef[],
    problems: ProblemList,
    pathOf: (key: string, field?: string) => (string | number)[],
  ): ParameterSet | undefined {
    const before = problems.errors.length;
    const first = defs[0];
    for (const d of defs) {
      if (!KEY_RE.test(d.key)) {
        problems.error(
          SpecErrorCode.Parameters,
          pathOf(d.key),
          `parameter name '${d.key}' cannot be used in a $(${d.key}) token`,
          'use letters, digits, _ or -',
          true,
        );
      }
      if (d.values.length === 0) {
        problems.error(
          SpecErrorCode.Parameters,
          pathOf(d.key, 'values'),
          `parameter ${d.key} has no values`,
          'give at least one value',
        );
      }
      if (first && d.values.length !== first.values.length) {
        problems.error(
          SpecErrorCode.ParameterLength,
          pathOf(d.key, 'values'),
          `parameter ${d.key} has ${d.values.length} values but ${first.key} has ${first.values.length}`,
          'every parameter needs the same number of values: they are combined row by row, not crossed (use --pgen for a cross product)',
        );
      }
      if (Array.isArray(d.label) && d.label.length !== d.values.length) {
        problems.error(
          SpecErrorCode.Parameters,
          pathOf(d.key, 'label'),
          `parameter ${d.key} has ${d.label.length} labels for ${d.values.length} values`,
          'give one label per value, or one label with %% in it',
        );
      }
    }
    return problems.errors.length === before ? new ParameterSet(defs) : undefined;
  }

  has(key: string): boolean {
    return this.#defs.has(key);
  }

  /** `$(KEY)` for a row. */
  value(key: string, row: number): string {
    return this.#def(key).values[row] ?? '';
  }

  /** `$(KEY.label)` for a row. */
  label(key: string, row: number): string {
    const d = this.#def(key);
    const parts = this.#templates.get(key);
    if (parts === undefined) return (d.label as readonly string[])[row] ?? '';
    const value = d.values[row] ?? '';
    if (parts.length === 2) return parts[0]! + value + parts[1]!;
    return parts.join(value);
  }

  /** `$(KEY.name)`. */
  name(key: string): string {
    return this.#def(key).name ?? key;
  }

  #def(key: string): ParameterDef {
    const d = this.#defs.get(key);
    if (!d) throw new Error(`unknown parameter ${key}`);
    return d;
  }
}

/**
 * Parameters from a generator (`--pgen`), checked like `global.parameters`: throws SpecError
 * naming `source` (the generator file) and the parameter key for every problem.
 */
export function parametersFromGenerator(defs: readonly ParameterDef[], source: string): ParameterSet {
  const problems = new ProblemList(undefined, source);
  if (defs.length === 0) {
    problems.error(
      SpecErrorCode.Parameters,
      [],
      'the generator returned no parameters',
      'return at least one parameter with values',
    );
  }
  const set = ParameterSet.from(defs, problems, (key, field) => [key, ...(field ? [field] : [])]);
  problems.throwIfAny();
  return set!;
}
