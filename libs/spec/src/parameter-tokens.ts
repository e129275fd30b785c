/**
 * Parameter tokens of one row: `$(P)` is the value, `$(P.label)` the label, `$(P.name)` the name;
 * and the text that names a row's instance (its labels joined). Shared by expansion, rendering
 * and the checks made on the expanded values, so they read tokens the same way.
 */
import type { ParameterSet } from './parameters.js';

/** `$(P)`, `$(P.label)`, `$(P.name)` for a row. */
export function parameterToken(parameters: ParameterSet, name: string, row: number): string | undefined {
  if (parameters.has(name)) return parameters.value(name, row);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const key = name.slice(0, dot);
  if (!parameters.has(key)) return undefined;
  const field = name.slice(dot + 1);
  if (field === 'label') return parameters.label(key, row);
  if (field === 'name') return parameters.name(key);
  return undefined;
}

/** The parameter a token name refers to (`P`, `P.label`, `P.name`), if any. Exact, not prefix. */
export function parameterOfToken(parameters: ParameterSet, name: string): string | undefined {
  if (parameters.has(name)) return name;
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const key = name.slice(0, dot);
  const field = name.slice(dot + 1);
  return (field === 'label' || field === 'name') && parameters.has(key) ? key : undefined;
}

/** Labels of the `used` parameters (sorted by key) for a row, joined with '.': Maestro's combo string. */
export function comboString(parameters: ParameterSet, used: readonly string[], row: number): string {
  let out = '';
  for (let k = 0; k < used.length; k++) out += (k ? '.' : '') + parameters.label(used[k]!, row);
  return out;
}
