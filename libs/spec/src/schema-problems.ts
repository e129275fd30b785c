/** zod's schema issues told the way the rest of the checks speak: where, what was found, what is allowed. */
import type { z } from 'zod';
import { SpecErrorCode } from './errors.js';
import type { ProblemList } from './problems.js';
import { pyStr, type PyValue } from './py-values.js';
import { allowedKeysAt } from './schema.js';
import { didYouMean } from './suggest.js';

/** zod issues -> located problems that say what was found and what is allowed. */
export function reportSchemaIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, problems: ProblemList): void {
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(path) ?? [];
      for (const key of issue.keys) {
        const where = path.length ? ` in ${describePlace(path, raw)}` : '';
        problems.error(
          SpecErrorCode.UnknownKey,
          [...path, key],
          `unknown key '${key}'${where}${didYouMean(key, allowed)}`,
          `allowed keys: ${allowed.join(', ')}`,
          true,
        );
      }
      continue;
    }
    const parent = valueAt(raw, path.slice(0, -1));
    const last = path[path.length - 1];
    const missing =
      last !== undefined &&
      parent !== null &&
      typeof parent === 'object' &&
      !Array.isArray(parent) &&
      !Object.prototype.hasOwnProperty.call(parent, last);
    const allowed = friendlyAllowed(issue);
    if (missing) {
      problems.error(
        SpecErrorCode.MissingKey,
        path,
        `required key '${String(last)}' is missing${path.length > 1 ? ` from ${describePlace(path.slice(0, -1), raw)}` : ''}`,
        allowed,
      );
      continue;
    }
    const value = valueAt(raw, path);
    if (issue.code === 'too_small' && typeof value === 'string' && value === '') {
      problems.error(SpecErrorCode.InvalidValue, path, 'is empty', allowed);
    } else if (issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'invalid_format') {
      problems.error(SpecErrorCode.WrongType, path, `got ${describe(value as PyValue)}`, allowed);
    } else {
      problems.error(SpecErrorCode.InvalidValue, path, `got ${describe(value as PyValue)}`, allowed);
    }
  }
}

function friendlyAllowed(issue: z.core.$ZodIssue): string {
  if (!issue.message.startsWith('Invalid input') && !issue.message.startsWith('Too ')) return issue.message;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'too_small') return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)}`;
  return issue.message;
}

function describePlace(path: readonly (string | number)[], raw: unknown): string {
  if (path[0] === 'study' && typeof path[1] === 'number') {
    const rest = path.slice(2).join('.');
    const name = valueAt(raw, ['study', path[1], 'name']);
    const step = typeof name === 'string' ? `step '${name}'` : `step #${path[1] + 1}`;
    return rest ? `the ${rest} block of ${step}` : step;
  }
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.');
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** A bad value, for messages: `the number 5`, `the text 'abc'`, `nothing (null)`. */
export function describe(value: PyValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'nothing (null)';
  if (typeof value === 'string') return value === '' ? 'empty text' : `the text '${truncate(value)}'`;
  if (typeof value === 'boolean') return `the boolean ${pyStr(value)}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `the integer ${pyStr(value)}`;
  if (Array.isArray(value)) return `a list (${truncate(pyStr(value))})`;
  if (typeof value === 'object' && value.constructor === Object) return `a mapping (${truncate(pyStr(value))})`;
  return `the value ${truncate(pyStr(value))}`;
}

function truncate(s: string): string {
  const line = s.replace(/\n/g, '\\n');
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
