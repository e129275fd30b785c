/**
 * StepJob: one runnable step instance.
 * Producer: the conductor (BullMQ `add`/`addBulk`). Consumer: `maestro-worker`.
 * Queue: the step's `task_queue`, else DEFAULT_QUEUE. Job id: stepJobId(studyId, index, attempt).
 *
 * Invariants: `script` is fully rendered except `$(LAUNCHER)` tokens, which only the worker can
 * expand (it knows its scheduler and allocation); the worker never expands parameters. A worker
 * may only run it after claiming attempt `attempt` of instance `index` in the study's fence
 * (worker side: queue/fence.ts), and only reports through that fence.
 *
 * Hostile input: a job in the queue is checked field by field before anything touches the file
 * system. Its workspace is an absolute, normalised path and its file name one path component, so
 * neither can point somewhere else through `..`, a relative path or a NUL byte; index and
 * attempt fit the u32 fields of the packed state record (and stay integers in the fence's Lua).
 * This does not make a queue safe to share with people you do not trust: whoever can add jobs
 * chooses the script, and the worker runs it.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.js';

/** Largest instance index and attempt number: both are u32 in the packed state record. */
export const MAX_STEP_JOB_NUMBER = 0xffff_ffff;
/** Linux PATH_MAX, less the terminating NUL. */
const MAX_PATH_BYTES = 4095;
/** NAME_MAX (255) less the longest suffix the worker adds (`.restart.sh`, `.out.<n>`). */
const MAX_FILE_NAME_BYTES = 240;
const MAX_NAME_LENGTH = 4096;

const utf8 = new TextEncoder();
/** UTF-8 length; ASCII text (nearly every path) without encoding it. */
const byteLength = (text: string): number => (/[\u0080-\uffff]/.test(text) ? utf8.encode(text).length : text.length);

/** `/a/b/c`: absolute, no empty, `.` or `..` segment (so nothing to normalise away), no NUL. */
function isSafeAbsolutePath(p: string): boolean {
  if (!p.startsWith('/') || p.includes('\0') || byteLength(p) > MAX_PATH_BYTES) return false;
  return p
    .slice(1)
    .split('/')
    .every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** One path component: not empty, `.` or `..`; no `/` or NUL. */
function isSafeFileName(name: string): boolean {
  return (
    name !== '' &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    byteLength(name) <= MAX_FILE_NAME_BYTES
  );
}

const noNul = (text: string): boolean => !text.includes('\0');

export const StepResources = z.object({
  /** Nodes the step asks for (`nodes:`). */
  nodes: z.number().int().positive().optional(),
  /** Tasks (`procs:`). */
  procs: z.number().int().positive().optional(),
  /** `cores per task:`. */
  coresPerTask: z.number().int().positive().optional(),
  /** `gpus:` for the whole step. */
  gpus: z.number().int().nonnegative().optional(),
  exclusive: z.boolean().optional(),
});
export type StepResources = z.output<typeof StepResources>;

/** What differs between the instances of one bundle (see StepJob.more). */
const instanceFields = {
  /** Instance index in the study (its record in the packed state). */
  index: z.number().int().nonnegative().max(MAX_STEP_JOB_NUMBER),
  /** Attempt number: the fencing token of this job. */
  attempt: z.number().int().positive().max(MAX_STEP_JOB_NUMBER),
  /** Instance name, for logs and messages (and the step's MAESTRO_STEP). */
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  /** Absolute workspace folder; the worker creates it if missing. See {@link isSafeAbsolutePath}. */
  workspace: z.string().refine(isSafeAbsolutePath, {
    error: `must be an absolute path without '.', '..' or empty segments or NUL, at most ${MAX_PATH_BYTES} bytes`,
  }),
  /** Base name of `<fileName>.sh`, `.out`, `.err` in the workspace. See {@link isSafeFileName}. */
  fileName: z.string().refine(isSafeFileName, {
    error: `must be one file name (not '.' or '..', no '/' or NUL), at most ${MAX_FILE_NAME_BYTES} bytes`,
  }),
  /** `cmd` for a normal run, `restart` for the restart command after a timeout. */
  kind: z.enum(['cmd', 'restart']),
  /** The complete script, shebang first. */
  script: z.string(),
  /** Extra environment variables for the step: shell identifiers, values without NUL. */
  env: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names are letters, digits and _, not starting with a digit'),
      z.string().refine(noNul, 'must not contain NUL'),
    )
    .default({}),
};

/** Most instances one job may carry (the conductor sends far fewer; see StepJob.more). */
export const MAX_BUNDLE_MEMBERS = 1000;

/** A further instance of a bundle: run with the job's interpreter, walltime and resources. */
export const BundleMember = z.object(instanceFields);
export type BundleMember = z.output<typeof BundleMember>;

export const StepJob = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  /** Key prefix of the deployment (maestro's keys and BullMQ's). */
  prefix: z.string().min(1),
  studyId: z
    .string()
    .min(1)
    .regex(/^[^:]+$/),
  ...instanceFields,
  /** Interpreter and its arguments, from the shebang (`/bin/bash`, `/usr/bin/env python3`). */
  interpreter: z.array(z.string().min(1).refine(noNul, 'must not contain NUL')).min(1),
  /** Kill the step after this long (walltime); undefined = no limit. */
  timeoutMs: z.number().int().positive().optional(),
  resources: StepResources.default({}),
  /**
   * A bundle: further instances of the same step with the same settings (queue, interpreter,
   * walltime, resources) and the same attempt number, which the worker runs one after the other
   * in one slot after the first, each claimed and reported through the fence on its own. The
   * conductor bundles only instances it has seen to be short, so that one job costs the queue's
   * round trips once for many of them. The job's id is its first instance's.
   */
  more: z.array(BundleMember).max(MAX_BUNDLE_MEMBERS).optional(),
  /**
   * With `more`: once the bundle has run this long, the worker starts no further member and
   * hands the rest back to the conductor unstarted (they are sent again, as new attempts), so
   * that a bundle of instances slower than expected never keeps them from idle workers.
   */
  bundleBudgetMs: z.number().int().positive().optional(),
  /**
   * With `more`: a chain. Each member depends on the one before it (and on nothing unfinished
   * besides), so the worker runs a member only once the one before it succeeded. The first
   * member that does not succeed, or whose claim is refused (done elsewhere, stale, cancelled),
   * ends the chain: the members after it are handed back unstarted (claimed and reported
   * `interrupted`), and the conductor sends again those whose parents finished. A chain spares
   * the conductor a round trip per link: the child starts the moment its parent ends.
   */
  chain: z.boolean().optional(),
});
export type StepJob = z.output<typeof StepJob>;
export type StepJobInput = z.input<typeof StepJob>;

/** The instances a job carries, in the order the worker runs them: the job itself, then `more`. */
export function bundleMembers(job: StepJob): StepJob[] {
  if (!job.more || job.more.length === 0) return [job];
  const { more, ...first } = job;
  return [first, ...more.map((m) => ({ ...first, ...m }))];
}
