/** Expanding a study again from the copies in its root (resume, status --failed, the dashboard). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ParameterDef } from '@maestro/spec';
import { loadStudy, type LoadedStudy } from './load.js';
import { metaDir, type StudyMeta } from './meta.js';

/** The same instances, in the same order, as when the study was created. */
export async function reloadStudy(meta: StudyMeta): Promise<LoadedStudy> {
  const paramsFile = path.join(metaDir(meta.root), 'parameters.json');
  const savedParameters = existsSync(paramsFile)
    ? (JSON.parse(await readFile(paramsFile, 'utf8')) as ParameterDef[])
    : undefined;
  return loadStudy({
    specPath: path.join(meta.root, meta.specCopy),
    specRoot: path.dirname(meta.specFile),
    out: meta.root,
    savedParameters,
    hashWorkspaces: meta.options.hashWorkspaces,
    workspaceFanout: meta.options.workspaceFanout,
    maxInstances: meta.options.maxInstances,
    cwd: meta.cwd,
    now: new Date(meta.createdAt),
    requireSamples: true,
  });
}
