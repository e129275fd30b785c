/**
 * What generators return, checked and turned into {@link ParameterDef}s.
 *
 * JavaScript modules and executables give `{ KEY: { values: [...], label?, name? } }`; the
 * Python runner gives rows whose values Python's str() already turned into text. Either way
 * each def comes back with its label and name filled in (`KEY.%%` and the key by default), as
 * Maestro's ParameterGenerator does. Unequal lengths are left to the caller (ParameterSet).
 */
import { LABEL_TOKEN, PyFloat, PyTimestamp, pyStr, type ParameterDef, type PyValue } from '@maestro/spec';

const FIELDS = ['values', 'label', 'name'] as const;
const MAX_LISTED = 10;

/** Checks a generator's `{ KEY: { values, label?, name? } }`; returns every problem found. */
export function toParameterDefs(output: unknown): {
  readonly defs: ParameterDef[];
  readonly problems: readonly string[];
} {
  const problems: string[] = [];
  const defs: ParameterDef[] = [];
  if (!isPlainObject(output)) {
    return { defs, problems: [`expected an object { KEY: { values: [...] } }, got ${describe(output)}`] };
  }
  for (const [key, entry] of Object.entries(output)) {
    if (!isPlainObject(entry)) {
      problems.push(`${key}: expected { values: [...], label?, name? }, got ${describe(entry)}`);
      continue;
    }
    const unknown = Object.keys(entry).filter((f) => !(FIELDS as readonly string[]).includes(f));
    if (unknown.length > 0) {
      problems.push(`${key}: unknown field ${unknown.join(', ')}; allowed: ${FIELDS.join(', ')}`);
    }
    const values = toTexts(entry.values, `${key}.values`, problems);
    const label = toLabel(key, entry.label, problems);
    const name = entry.name;
    if (name !== undefined && name !== null && typeof name !== 'string') {
      problems.push(`${key}.name: expected text, got ${describe(name)}`);
    }
    if (values) defs.push({ key, values, label, name: typeof name === 'string' && name !== '' ? name : key });
  }
  return {
    defs,
    problems:
      problems.length > MAX_LISTED
        ? [...problems.slice(0, MAX_LISTED), `... and ${problems.length - MAX_LISTED} more`]
        : problems,
  };
}

/** Checks the Python runner's `[{ key, values, label, name }]` (all text already). */
export function fromPythonRows(output: unknown): ParameterDef[] | undefined {
  if (!Array.isArray(output)) return undefined;
  const defs: ParameterDef[] = [];
  for (const row of output) {
    if (!isPlainObject(row)) return undefined;
    const { key, values, label, name } = row;
    const texts = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');
    if (typeof key !== 'string' || typeof name !== 'string' || !texts(values)) return undefined;
    if (typeof label !== 'string' && !texts(label)) return undefined;
    defs.push({ key, values, label, name });
  }
  return defs;
}

function toLabel(key: string, label: unknown, problems: string[]): string | string[] {
  // Like Maestro's `if label:`, an empty label means the default.
  if (label === undefined || label === null || label === '') return `${key}.${LABEL_TOKEN}`;
  if (typeof label === 'string') return label;
  if (Array.isArray(label)) return toTexts(label, `${key}.label`, problems) ?? [];
  problems.push(`${key}.label: expected text with ${LABEL_TOKEN} or a list of labels, got ${describe(label)}`);
  return [];
}

function toTexts(values: unknown, where: string, problems: string[]): string[] | undefined {
  if (!Array.isArray(values)) {
    problems.push(`${where}: expected a list, got ${describe(values)}`);
    return undefined;
  }
  const texts: string[] = [];
  for (const [i, v] of values.entries()) {
    const bad = badValue(v);
    if (bad) {
      problems.push(`${where}[${i}]: ${bad}`);
      return undefined;
    }
    texts.push(pyStr(v as PyValue));
  }
  return texts;
}

/** Why `v` has no Python str(), or undefined if it has one. */
function badValue(v: unknown, depth = 0): string | undefined {
  if (depth > 50) return 'nested too deeply';
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return undefined;
    case 'undefined':
      return 'is undefined (use null for Python None)';
    case 'function':
    case 'symbol':
      return `a ${typeof v} has no text form`;
    case 'object': {
      if (v === null || v instanceof PyFloat || v instanceof PyTimestamp) return undefined;
      const items = Array.isArray(v) ? v : isPlainObject(v) ? Object.values(v) : undefined;
      if (!items) return `${describe(v)} has no text form; use text, numbers, booleans, null, lists or plain objects`;
      for (const item of items) {
        const bad = badValue(item, depth + 1);
        if (bad) return bad;
      }
      return undefined;
    }
    default:
      return 'has no text form';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A short description of a value for messages: `a list`, `the number 3`, `a Date`. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof v} ${String(v)}`;
    case 'undefined':
      return 'undefined';
    case 'object': {
      const ctor: unknown = (Object.getPrototypeOf(v) as { constructor?: unknown } | null)?.constructor;
      return typeof ctor === 'function' && ctor.name && ctor.name !== 'Object' ? `a ${ctor.name}` : 'an object';
    }
    default:
      return `a ${typeof v}`;
  }
}
