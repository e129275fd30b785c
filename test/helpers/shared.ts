import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file is test/helpers/shared.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The shared material beside the project (`../shared`), or MAESTRO_SHARED. Tests that read
 * the Maestro samples fail loudly without it rather than skipping.
 */
export function sharedDir(): string {
  const dir = process.env['MAESTRO_SHARED'] ?? path.resolve(REPO_ROOT, '../shared');
  if (!existsSync(path.join(dir, 'compat/maestrowf/expected.jsonl'))) {
    throw new Error(
      `shared material not found at ${dir}: set MAESTRO_SHARED to the folder holding compat/ and reference/`,
    );
  }
  return dir;
}

export const compatDir = (): string => path.join(sharedDir(), 'compat/maestrowf');

export interface CompatCase {
  file: string;
  expect: 'ok' | 'error';
  load: string;
  stage?: string;
  nodes?: string[];
  edges?: string[];
  workspaces?: Record<string, string>;
  cmds?: Record<string, string>;
  restarts?: Record<string, string>;
  n_nodes?: number;
}
