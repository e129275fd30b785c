/**
 * `meta/study.json`: what a study is and how it was started. Written once when the study root
 * is created; `status`, `resume` and the dashboard read it. Never holds credentials.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const STUDY_META_VERSION = 1;

export const StudyMeta = z.object({
  version: z.literal(STUDY_META_VERSION),
  /** Study id: names the study's Redis keys and prefixes its job ids. No ':' (BullMQ). */
  id: z.string().regex(/^[^:\s]+$/),
  name: z.string(),
  description: z.string(),
  /** Absolute study root. */
  root: z.string(),
  /** The spec as the user gave it (absolute), and its copy's file name inside the root. */
  specFile: z.string(),
  specCopy: z.string(),
  createdAt: z.string(),
  /** Working directory of `maestro run` (relative dependency paths resolve against it). */
  cwd: z.string(),
  dryRun: z.boolean(),
  options: z.object({
    hashWorkspaces: z.boolean(),
    /** File name of the copied parameter generator inside the root, if any. */
    pgen: z.string().optional(),
    pargs: z.array(z.string()),
    maxInstances: z.number().int().positive().optional(),
    workspaceFanout: z.number().int().min(2).optional(),
  }),
  instanceCount: z.number().int().nonnegative(),
  /** Where the study's state and queue live: its own embedded server, or a shared one (no password). */
  redis: z
    .discriminatedUnion('mode', [
      z.object({ mode: z.literal('embedded') }),
      z.object({ mode: z.literal('external'), url: z.string() }),
    ])
    .optional(),
  /** Key prefix in Redis. */
  prefix: z.string().default('maestro'),
  steps: z.array(z.object({ name: z.string(), instances: z.number().int().nonnegative() })),
});
export type StudyMeta = z.output<typeof StudyMeta>;

export const metaDir = (root: string): string => path.join(root, 'meta');
export const studyMetaPath = (root: string): string => path.join(metaDir(root), 'study.json');

export async function writeStudyMeta(meta: StudyMeta): Promise<void> {
  await writeFile(studyMetaPath(meta.root), `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads `meta/study.json` of a study root; throws with the path and the problem. */
export async function readStudyMeta(root: string): Promise<StudyMeta> {
  const file = studyMetaPath(root);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`${root} is not a maestro study folder (no ${path.relative(root, file)})`);
  }
  const parsed = StudyMeta.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`${file} is not a study description this maestro understands: ${parsed.error.message}`);
  return parsed.data;
}
