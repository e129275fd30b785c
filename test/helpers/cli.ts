/** Runs the built `maestro` and `maestro-worker` commands the way a user would. */
import { execa, type Options } from 'execa';
import path from 'node:path';
import { REPO_ROOT } from './shared.js';

export const MAESTRO_BIN = path.join(REPO_ROOT, 'apps/conductor/bin/maestro.js');
export const WORKER_BIN = path.join(REPO_ROOT, 'apps/worker/bin/maestro-worker.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function maestro(args: readonly string[], options: Options = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [MAESTRO_BIN, ...args], { reject: false, ...options });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
