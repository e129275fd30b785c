/**
 * A step's files in its workspace: `<fileName>.sh` (or `.restart.sh`), written fresh for each
 * run, and `<fileName>.out` / `.err`, which the step writes directly (opened by the launcher,
 * which keeps the output of an earlier run as `.out.<n>` / `.err.<n>`, first free n, so attempts
 * never overwrite each other's evidence).
 *
 * Any failure here is the step's failure (counted against its attempts), reported with the path
 * and errno: "cannot write /x/y/s.sh: ENOSPC (no space left on device)".
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StepJob } from '@maestro/protocol';
import { describeSystemError, WorkerError, WorkerErrorCode } from './errors.js';

export interface StepFiles {
  script: string;
  out: string;
  err: string;
}

export function stepFiles(job: Pick<StepJob, 'workspace' | 'fileName' | 'kind'>): StepFiles {
  const base = path.join(job.workspace, job.fileName);
  return {
    script: job.kind === 'restart' ? `${base}.restart.sh` : `${base}.sh`,
    out: `${base}.out`,
    err: `${base}.err`,
  };
}

async function attempt<T>(what: string, file: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new WorkerError(WorkerErrorCode.Workspace, `cannot ${what} ${file}: ${describeSystemError(err)}`, { cause: err });
  }
}

/** Permission bits new files get from `writeFile(..., { mode: 0o755 })` under this process's umask. */
const UMASK_KEEPS_EXEC = (0o755 & ~process.umask()) === 0o755;

/**
 * Creates the workspace if missing and writes the script (mode 0755). Earlier output is kept and
 * fresh `.out`/`.err` files are opened by the launcher (run-step.ts). Throws a WorkerError (code
 * Workspace) naming the path and errno.
 */
export async function prepareWorkspace(job: StepJob, script: string): Promise<{ files: StepFiles }> {
  const files = stepFiles(job);
  await attempt('create', job.workspace, () => mkdir(job.workspace, { recursive: true }));
  await attempt('write', files.script, async () => {
    await writeFile(files.script, script, { mode: 0o755 });
    // A umask that drops bits, or a script left by an earlier run, needs the mode set again.
    if (!UMASK_KEEPS_EXEC || job.kind === 'restart') await chmod(files.script, 0o755);
  });
  return { files };
}
