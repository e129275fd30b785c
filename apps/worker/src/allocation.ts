/**
 * What the worker asks its scheduler. Above all, when its allocation ends:
 * - Slurm: `squeue -h -j ID -o %L` (time left, `M:SS`, `H:MM:SS`, `D-HH:MM:SS`, `UNLIMITED`),
 *   else `scontrol show job ID` (TimeLimit − RunTime, as HyperQueue does);
 * - Flux: `flux job timeleft` (seconds; 2^32 − 1 when unlimited): in a worker started by
 *   `flux exec` (no FLUX_JOB_ID), its instance's end, which is the allocation's; in a worker run as
 *   a job of the instance, that job's, which Flux caps at the instance's end;
 * - local: the end the launcher gave (MAESTRO_ALLOCATION_ENDS_AT), or none.
 * The answer is asked again now and then: an administrator may extend a job.
 *
 * And, once at start, inside Flux (askFluxFacts): which allocation this is and what this node
 * holds, which no variable says there.
 */
import { parseWalltimeSeconds } from '@maestro/protocol';
import type { AllocationFacts, WorkerConfig } from './config.js';
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

const runQuery: Run = (file, args) => runCommand(file, args, QUERY_TIMEOUT_MS);

/**
 * Asks Flux what the environment does not say: the allocation's id (`flux getattr jobid`: the
 * instance of a `flux batch` job knows the id it runs as, and FLUX_JOB_ID is not set in it) and
 * this node's cores and GPUs in it (`flux resource list` of the worker's broker rank, from
 * `flux getattr rank`). Never throws: what cannot be asked is left out, and `warnings` say why.
 * An instance that is no job (`flux start` by hand) has no jobid: that is no warning.
 */
export async function askFluxFacts(
  want: { allocationId: boolean; resources: boolean },
  run: Run = runQuery,
): Promise<{ facts: AllocationFacts; warnings: string[] }> {
  const facts: AllocationFacts = {};
  const warnings: string[] = [];
  if (want.allocationId) {
    const r = await run('flux', ['getattr', 'jobid']);
    const id = r.stdout.trim();
    if (r.exitCode === 0 && /^\S+$/.test(id)) facts.allocationId = id;
    else if (r.exitCode === undefined) warnings.push(`flux getattr jobid did not answer: ${describe(r)}`);
  }
  if (want.resources) {
    const rank = await run('flux', ['getattr', 'rank']);
    const r = /^\d+$/.test(rank.stdout.trim())
      ? await run('flux', ['resource', 'list', '-s', 'all', '-n', '-o', '{ncores} {ngpus}', '-i', rank.stdout.trim()])
      : rank;
    const m = r.exitCode === 0 ? /^(\d+) (\d+)$/.exec(r.stdout.trim()) : null;
    if (m && Number(m[1]) > 0) {
      facts.cores = Number(m[1]);
      facts.gpus = Number(m[2]);
    } else {
      warnings.push(`cannot ask Flux what this node holds (${describe(r)}); counting the machine's cores`);
    }
  }
  return { facts, warnings };
}

export function makeAllocationClock(
  config: Pick<WorkerConfig, 'scheduler' | 'allocationId' | 'allocationEndsAtMs'>,
  now: () => number = Date.now,
  run: Run = runQuery,
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
