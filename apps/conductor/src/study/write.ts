/** Writes what a study root holds before anything runs: copies, metadata, and (dry runs) scripts. */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatStatusRow, STATUS_CSV_HEADER } from '@maestro/protocol';
import { renderStepScript, shellOf, type ExpandedStudy, type StepInstance } from '@maestro/spec';
import type { LoadedStudy } from './load.js';
import { metaDir, STUDY_META_VERSION, writeStudyMeta, type StudyMeta } from './meta.js';

export function newStudyId(root: string): string {
  return `${path.basename(root).replace(/[^\w.-]/g, '_')}.${randomBytes(3).toString('hex')}`;
}

export interface WriteStudyOptions {
  readonly loaded: LoadedStudy;
  readonly root: string;
  readonly dryRun: boolean;
  readonly pgen?: string | undefined;
  readonly pargs: readonly string[];
  readonly maxInstances?: number | undefined;
  readonly now: Date;
  /** Where the study's state lives (no password). */
  readonly redis?: StudyMeta['redis'];
  readonly prefix?: string | undefined;
  readonly cwd: string;
}

/** Copies the spec (and generator) into the root and writes `meta/`. Returns the metadata. */
export async function writeStudySkeleton(options: WriteStudyOptions): Promise<StudyMeta> {
  const { loaded, root } = options;
  await mkdir(metaDir(root), { recursive: true });
  const specCopy = path.basename(loaded.specFile);
  await copyFile(loaded.specFile, path.join(root, specCopy));
  let pgenCopy: string | undefined;
  if (options.pgen) {
    pgenCopy = path.basename(options.pgen);
    await copyFile(options.pgen, path.join(root, pgenCopy));
  }
  if (loaded.generatedParameters) {
    await writeFile(path.join(metaDir(root), 'parameters.json'), `${JSON.stringify(loaded.generatedParameters)}\n`);
  }
  const x = loaded.expanded;
  const meta: StudyMeta = {
    version: STUDY_META_VERSION,
    id: newStudyId(root),
    name: x.name,
    description: x.description,
    root,
    specFile: loaded.specFile,
    specCopy,
    createdAt: options.now.toISOString(),
    cwd: options.cwd,
    dryRun: options.dryRun,
    options: {
      hashWorkspaces: x.hashWorkspaces,
      pgen: pgenCopy,
      pargs: [...options.pargs],
      maxInstances: options.maxInstances,
      workspaceFanout: x.workspaceFanout,
    },
    instanceCount: x.instanceCount,
    steps: x.steps.map((s) => ({ name: s.name, instances: s.instanceCount })),
    redis: options.redis,
    prefix: options.prefix ?? 'maestro',
  };
  await writeStudyMeta(meta);
  return meta;
}

/** Dry run: every workspace with its script(s), the expanded study, and status.csv in DRYRUN. */
export async function writeDryRun(expanded: ExpandedStudy, root: string): Promise<void> {
  const expandedFile = await open(path.join(metaDir(root), 'expanded.jsonl'), 'w');
  const statusFile = await open(path.join(root, 'status.csv'), 'w');
  await statusFile.write(`${STATUS_CSV_HEADER}\n`);
  try {
    for (let i = 0; i < expanded.instanceCount; i++) {
      const inst = expanded.instance(i);
      const ws = path.join(root, inst.workspace);
      await mkdir(ws, { recursive: true });
      const shell = shellOf(expanded, inst);
      const script = path.join(ws, `${inst.fileName}.sh`);
      await writeFile(script, renderStepScript(shell, inst.cmd));
      await chmod(script, 0o755);
      if (inst.restart) {
        const restart = path.join(ws, `${inst.fileName}.restart.sh`);
        await writeFile(restart, renderStepScript(shell, inst.restart));
        await chmod(restart, 0o755);
      }
      await expandedFile.write(`${JSON.stringify(instanceJson(expanded, i, inst))}\n`);
      await statusFile.write(
        `${formatStatusRow({ name: inst.name, jobId: undefined, workspace: inst.workspace, state: 'DRYRUN', submitMs: undefined, startMs: undefined, endMs: undefined, restarts: 0, params: inst.params })}\n`,
      );
    }
  } finally {
    await expandedFile.close();
    await statusFile.close();
  }
}

/** The JSON form of one instance, as `maestro expand --json` prints it. */
export function instanceJson(
  expanded: ExpandedStudy,
  i: number,
  inst: StepInstance = expanded.instance(i),
): Record<string, unknown> {
  return {
    name: inst.name,
    step: inst.step,
    workspace: inst.workspace,
    params: inst.params,
    depends: expanded.parentsOf(i).map((p) => expanded.instanceName(p)),
    cmd: inst.cmd,
    restart: inst.restart ?? null,
  };
}
