/**
 * A step's files in its workspace: `<fileName>.sh` (or `.restart.sh`), written fresh for each
 * run, and `<fileName>.out` / `.err`, which the step writes directly. Output of an earlier run is
 * kept as `.out.<n>` / `.err.<n>` (first free n), so attempts never overwrite each other's
 * evidence.
 *
 * Any failure here is the step's failure (counted against its attempts), reported with the path
 * and errno: "cannot write /x/y/s.sh: ENOSPC (no space left on device)".
 */
import { chmod, mkdir, open, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { StepJob } from '@maestro/protocol';
import { describeSystemError, WorkerError, WorkerErrorCode } from './errors.js';

export interface StepFiles {
  script: string;
  out: string;
  err: string;
}

/** Open output files, to hand to the step as its stdout and stderr, then close. */
export interface StepOutputs {
  out: FileHandle;
  err: FileHandle;
  close(): Promise<void>;
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
    throw new WorkerError(WorkerErrorCode.Workspace, `cannot ${what} ${file}: ${describeSystemError(err)}`, {
      cause: err,
    });
  }
}

/** Renames a non-empty `file` to `file.<n>`, n = 1, 2, ... the first free number. */
async function keepEarlierOutput(file: string): Promise<void> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  if (size === 0) return;
  for (let n = 1; ; n++) {
    const kept = `${file}.${n}`;
    const taken = await stat(kept).then(
      () => true,
      () => false,
    );
    if (taken) continue;
    await attempt('rename', file, () => rename(file, kept));
    return;
  }
}

/**
 * Creates the workspace if missing, writes the script (mode 0755), keeps earlier output and opens
 * fresh `.out`/`.err` files. Throws a WorkerError (code Workspace) naming the path and errno.
 */
export async function prepareWorkspace(
  job: StepJob,
  script: string,
): Promise<{ files: StepFiles; outputs: StepOutputs }> {
  const files = stepFiles(job);
  await attempt('create', job.workspace, () => mkdir(job.workspace, { recursive: true }));
  await attempt('write', files.script, async () => {
    await writeFile(files.script, script, { mode: 0o755 });
    await chmod(files.script, 0o755); // an existing file keeps its mode; umask narrows a new one
  });
  await keepEarlierOutput(files.out);
  await keepEarlierOutput(files.err);
  const out = await attempt('open', files.out, () => open(files.out, 'w'));
  let err: FileHandle;
  try {
    err = await attempt('open', files.err, () => open(files.err, 'w'));
  } catch (e) {
    await out.close();
    throw e;
  }
  return {
    files,
    outputs: {
      out,
      err,
      async close() {
        await Promise.allSettled([out.close(), err.close()]);
      },
    },
  };
}
