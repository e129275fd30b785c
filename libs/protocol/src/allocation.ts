/**
 * AllocationRecord: a batch allocation of workers that maestro submitted to a scheduler.
 * Producers: `maestro workers launch`, and the autoscaler of `maestro run --autoscale`.
 * Consumers: `maestro workers list` / `stop`, the autoscaler (its own), dashboards.
 * Key: `<p>:allocations` hash, field {@link allocationField}, value the record as JSON.
 *
 * Invariant: no credentials. The batch script named here holds none either (the Redis password
 * reaches workers only through a password file).
 */
import { z } from 'zod';

export const SCHEDULERS = ['slurm', 'flux', 'local'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

export const AllocationRecord = z.object({
  scheduler: z.enum(SCHEDULERS),
  /** The scheduler's job id (`sbatch --parsable`, `flux batch`), or the pid of a local one. */
  id: z.string().min(1),
  nodes: z.number().int().positive(),
  /** Walltime asked for, in seconds; undefined = none. */
  walltimeSeconds: z.number().int().positive().optional(),
  /** Epoch ms of the submission. */
  submittedAt: z.number(),
  /** The batch script as written (absolute path). */
  script: z.string(),
  /** Queues its workers take steps from. */
  queues: z.array(z.string()),
  /** `launch`: by hand; `autoscale`: by the conductor of `studyId`, which releases it. */
  origin: z.enum(['launch', 'autoscale']),
  studyId: z.string().optional(),
  /** Epoch ms when maestro saw it end or cancelled it. */
  endedAt: z.number().optional(),
});
export type AllocationRecord = z.output<typeof AllocationRecord>;

/**
 * An allocation id as every part of maestro stores and compares it. Flux writes its job ids in
 * F58 with a leading `ƒ`, or `f` where the locale cannot show `ƒ` (`LC_ALL=C`,
 * FLUX_F58_FORCE_ASCII): `flux batch` may print `fuzzy1` while `flux getattr jobid` inside the
 * same job says `ƒuzzy1`. Both name one job, and every flux command takes either; maestro keeps
 * the `f` form, which every terminal, log and command line shows alike. Other ids are as given.
 */
export function canonicalAllocationId(scheduler: SchedulerName | undefined, id: string): string {
  const t = id.trim();
  return scheduler === 'flux' && /^\u0192[1-9A-HJ-NP-Za-km-z]+$/.test(t) ? `f${t.slice(1)}` : t;
}

/** Field of an allocation in `<p>:allocations`. */
export const allocationField = (scheduler: string, id: string): string => `${scheduler}.${id}`;

/** Fields of `<p>:drain`, the standing `maestro workers stop` requests. */
export const drainField = {
  allocation: (id: string): string => `allocation.${id}`,
  worker: (name: string): string => `worker.${name}`,
} as const;
