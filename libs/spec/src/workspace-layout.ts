/**
 * Where an instance's workspace is: `<step>/<labels>` as Maestro lays it out, the labels made
 * path-safe or hashed (`--hashws`), and nested in numbered folders when `--workspace-fanout`
 * caps how many entries a folder may hold.
 */
import { createHash } from 'node:crypto';
import { safePathComponent } from './path-names.js';

/** The last folder of a parameterized instance's workspace: its labels made safe, or their md5. */
export function workspaceLeaf(combo: string, hash: boolean): string {
  return hash ? md5(combo) : safePathComponent(combo);
}

export function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

/**
 * `--workspace-fanout N`: the numbered folders (`000/012/`) that put local instance `k` of a
 * step with `count` instances in a folder of at most N entries; empty when none are needed.
 */
export function fanoutBuckets(fanout: number | undefined, count: number, k: number): string {
  const n = fanout;
  if (n === undefined || count <= n) return '';
  let levels = 0;
  for (let capacity = n; capacity < count; capacity *= n) levels++;
  const width = String(n - 1).length;
  let out = '';
  let bucket = Math.floor(k / n);
  const parts: string[] = [];
  for (let l = 0; l < levels; l++) {
    parts.unshift(String(bucket % n).padStart(width, '0'));
    bucket = Math.floor(bucket / n);
  }
  for (const p of parts) out += `${p}/`;
  return out;
}
