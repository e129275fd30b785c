/**
 * The instances of a parameterized step: one per distinct label combination of the parameters it
 * uses, as Maestro names them, later rows with the same labels collapsing into the first.
 */
import type { ParameterSet } from './parameters.js';
import { comboString } from './parameter-tokens.js';

/**
 * One instance per distinct label combination; later rows with the same labels collapse into
 * the first. An open-addressing table of row numbers keyed by a string hash keeps this at two
 * typed arrays instead of a Map holding a million label strings. Stops early once `before` plus
 * the instances found pass `maxInstances` (the caller reports it).
 */
export function collapseRows(
  parameters: ParameterSet,
  used: readonly string[],
  before: number,
  maxInstances: number,
): { rows: Int32Array; rowToLocal: Int32Array } {
  const n = parameters.length;
  const rowToLocal = new Int32Array(n);
  const rows = new Int32Array(n);
  let count = 0;
  let capacity = 16;
  while (capacity < n * 2) capacity *= 2;
  const mask = capacity - 1;
  const table = new Int32Array(capacity).fill(-1); // local instance index, or -1
  for (let r = 0; r < n; r++) {
    const combo = comboString(parameters, used, r);
    let h = hashString(combo) & mask;
    let local = -1;
    for (;;) {
      const candidate = table[h]!;
      if (candidate === -1) break;
      if (comboString(parameters, used, rows[candidate]!) === combo) {
        local = candidate;
        break;
      }
      h = (h + 1) & mask;
    }
    if (local === -1) {
      local = count++;
      rows[local] = r;
      table[h] = local;
      if (before + count > maxInstances) break; // the caller reports it
    }
    rowToLocal[r] = local;
  }
  return { rows: rows.slice(0, count), rowToLocal };
}

/** FNV-1a over UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) {
    h ^= s.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
