/**
 * When the worker's allocation ends, the one thing the worker asks its scheduler:
 * - Slurm: `squeue -h -j ID -o %L` (time left, `M:SS`, `H:MM:SS`, `D-HH:MM:SS`, `UNLIMITED`),
 *   else `scontrol show job ID` (TimeLimit − RunTime, as HyperQueue does);
 * - Flux: `flux job timeleft` (seconds; 2^32 − 1 when unlimited), asked inside the worker's own
 *   job, whose end is its instance's;
 * - local: the end the launcher gave (MAESTRO_ALLOCATION_ENDS_AT), or none.
 *
 * The answer is asked again now and then: an administrator may extend a job.
 */
import { parseWalltimeSeconds } from '@maestro/protocol';
import type { WorkerConfig } from './config.js';
import { runCommand, type CommandOutput } from './run-step.js';

export interface AllocationClock {
  /**
   * Epoch ms when the allocation ends; undefined when it has no end. Throws an
   * AllocationQueryError when the scheduler cannot say (the caller keeps what it knew).
   */
  endsAt(): Promise<number | undefined>;
}

export class AllocationQueryError extends Error {
  override readonly name = 'AllocationQueryError';
}

/** A scheduler command gets this long to answer. */
const QUERY_TIMEOUT_MS = 20_000;
/** `flux job timeleft` prints UINT_MAX for a job without an end. */
const FLUX_UNLIMITED = 2 ** 32 - 1;

type Run = (file: string, args: readonly string[]) => Promise<CommandOutput>;

export function makeAllocationClock(
  config: Pick<WorkerConfig, 'scheduler' | 'allocationId' | 'allocationEndsAtMs'>,
  now: () => number = Date.now,
  run: Run = (file, args) => runCommand(file, args, QUERY_TIMEOUT_MS),
): AllocationClock {
  const id = config.allocationId;
  const secondsLeft = (s: number | undefined): number | undefined => (s === undefined ? undefined : now() + s * 1000);
  switch (config.scheduler) {
    case 'local':
      return { endsAt: async () => config.allocationEndsAtMs };
    case 'slurm':
      return {
        async endsAt() {
          if (id === undefined) return undefined;
          const squeue = await run('squeue', ['-h', '-j', id, '-o', '%L']);
          if (squeue.exitCode === 0 && squeue.stdout.trim() !== '') {
            try {
              return secondsLeft(parseSqueueTimeLeft(squeue.stdout));
            } catch {
              // fall through to scontrol
            }
          }
          const scontrol = await run('scontrol', ['show', 'job', id]);
          if (scontrol.exitCode !== 0) {
            throw new AllocationQueryError(
              `squeue and scontrol cannot tell the time left of job ${id}: ${describe(squeue)}; ${describe(scontrol)}`,
            );
          }
          return secondsLeft(parseScontrolTimeLeft(scontrol.stdout));
        },
      };
    case 'flux':
      return {
        async endsAt() {
          const r = await run('flux', ['job', 'timeleft']);
          const text = r.stdout.trim();
          if (r.exitCode !== 0 || !/^\d+$/.test(text)) {
            throw new AllocationQueryError(`flux job timeleft did not answer with seconds: ${describe(r)}`);
          }
          const s = Number(text);
          return s >= FLUX_UNLIMITED ? undefined : secondsLeft(s);
        },
      };
    default: {
      const never: never = config.scheduler;
      return never;
    }
  }
}

function describe(r: CommandOutput): string {
  if (r.error) return r.error;
  const text = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? '';
  return `exit ${r.exitCode}${text ? `: ${text}` : ''}`;
}

/** `squeue -o %L`: seconds left; undefined for a job without a limit. Throws on anything else. */
export function parseSqueueTimeLeft(text: string): number | undefined {
  const t = text.trim().split('\n')[0]!.trim();
  if (t === 'UNLIMITED' || t === 'NOT_SET') return undefined;
  if (!/^[\d:-]+$/.test(t)) throw new AllocationQueryError(`squeue printed '${t}' for the time left`);
  return parseWalltimeSeconds(t) ?? 0;
}

/** `scontrol show job`: TimeLimit − RunTime in seconds; undefined when TimeLimit is UNLIMITED. */
export function parseScontrolTimeLeft(text: string): number | undefined {
  const limit = /\bTimeLimit=(\S+)/.exec(text)?.[1];
  const runTime = /\bRunTime=(\S+)/.exec(text)?.[1];
  if (limit === undefined || runTime === undefined) {
    throw new AllocationQueryError('scontrol show job printed no TimeLimit and RunTime');
  }
  if (limit === 'UNLIMITED' || limit === 'NOT_SET' || limit === 'Partition_Limit') return undefined;
  return Math.max(0, (parseWalltimeSeconds(limit) ?? 0) - (parseWalltimeSeconds(runTime) ?? 0));
}
