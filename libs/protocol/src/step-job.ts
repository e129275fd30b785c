/**
 * StepJob: one runnable step instance.
 * Producer: the conductor (BullMQ `add`/`addBulk`). Consumer: `maestro-worker`.
 * Queue: the step's `task_queue`, else DEFAULT_QUEUE. Job id: stepJobId(studyId, index, attempt).
 *
 * Invariants: `script` is fully rendered except `$(LAUNCHER)` tokens, which only the worker can
 * expand (it knows its scheduler and allocation); the worker never expands parameters. A worker
 * may only run it after claiming attempt `attempt` of instance `index` in the study's fence
 * (worker side: queue/fence.ts), and only reports through that fence.
 */
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.js';

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

export const StepJob = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  /** Key prefix of the deployment (maestro's keys and BullMQ's). */
  prefix: z.string().min(1),
  studyId: z
    .string()
    .min(1)
    .regex(/^[^:]+$/),
  /** Instance index in the study (its record in the packed state). */
  index: z.number().int().nonnegative(),
  /** Attempt number: the fencing token of this job. */
  attempt: z.number().int().positive(),
  /** Instance name, for logs and messages. */
  name: z.string().min(1),
  /** Absolute workspace folder; the worker creates it if missing. */
  workspace: z.string().startsWith('/'),
  /** Base name of `<fileName>.sh`, `.out`, `.err` in the workspace. */
  fileName: z
    .string()
    .min(1)
    .regex(/^[^/\0]+$/),
  /** `cmd` for a normal run, `restart` for the restart command after a timeout. */
  kind: z.enum(['cmd', 'restart']),
  /** The complete script, shebang first. */
  script: z.string(),
  /** Interpreter and its arguments, from the shebang (`/bin/bash`, `/usr/bin/env python3`). */
  interpreter: z.array(z.string().min(1)).min(1),
  /** Kill the step after this long (walltime); undefined = no limit. */
  timeoutMs: z.number().int().positive().optional(),
  resources: StepResources.default({}),
  /** Extra environment variables for the step. */
  env: z.record(z.string(), z.string()).default({}),
});
export type StepJob = z.output<typeof StepJob>;
export type StepJobInput = z.input<typeof StepJob>;
