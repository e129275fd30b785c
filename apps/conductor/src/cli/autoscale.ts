/**
 * `maestro run|resume --autoscale slurm|flux|local --max-allocations K --nodes-per-allocation N
 * --walltime T ...`: the conductor submits allocations of workers while runnable work waits and
 * no worker can take it, and releases them when the study ends (fleet/fleet.ts).
 *
 * Checked before anything is created or submitted: the options, and that every step of the
 * study fits a node of the allocations (else Slurm would keep them pending forever).
 *
 * A Merlin study with worker groups (merlin.resources.workers) is scaled per group: each group's
 * allocations take its steps' queues, with its nodes (when --nodes-per-allocation is not given),
 * batch settings and concurrency, as `maestro workers launch --group` would submit them.
 */
import path from 'node:path';
import type { Writable } from 'node:stream';
import { AllocationError, AllocationErrorCode } from '../allocations/errors.js';
import { checkStudyFits, probeNodes, studyDemandGroups, type LaunchSettings } from '../allocations/launch.js';
import { schedulerClient, type SchedulerClient } from '../allocations/schedulers.js';
import { resolveWorkerGroup, workerGroupNames } from '../allocations/worker-groups.js';
import type { AutoscaleConfig } from '../fleet/fleet.js';
import type { LoadedStudy } from '../study/load.js';
import type { RedisTarget } from '../redis/connection.js';
import { resolveAllocationSettings, type AllocationFlags } from './allocation-options.js';
import { durationMs } from './common.js';
import { studyQueues, unixSocketWarning, workerRedis } from './workers.js';

export interface AutoscaleFlags extends AllocationFlags {
  autoscale?: string;
  maxAllocations?: number;
  nodesPerAllocation?: number;
}

export interface ResolvedAutoscale {
  readonly settings: LaunchSettings;
  readonly client: SchedulerClient;
  readonly coresPerNode: number | undefined;
  readonly maxAllocations: number;
  readonly preemptMarginMs: number;
}

/**
 * Undefined without --autoscale; else one shape per worker group (one for a study without
 * groups). Throws an AllocationError for bad options or steps too large.
 */
export async function resolveAutoscale(
  flags: AutoscaleFlags,
  loaded: LoadedStudy,
  prefix: string,
  err: Writable,
): Promise<ResolvedAutoscale[] | undefined> {
  if (flags.autoscale === undefined) {
    const stray = (['maxAllocations', 'nodesPerAllocation', 'walltime'] as const).filter((k) => flags[k] !== undefined);
    if (stray.length > 0) {
      throw new AllocationError(
        AllocationErrorCode.Invalid,
        `--${stray.map(kebab).join(', --')} only apply with --autoscale`,
      );
    }
    return undefined;
  }
  const groups = workerGroupNames(loaded.study);
  if (groups.length === 0) return [await resolveShape(flags, loaded, prefix, err, undefined)];
  const shapes: ResolvedAutoscale[] = [];
  for (const name of groups) shapes.push(await resolveShape(flags, loaded, prefix, err, name));
  return shapes;
}

/** The allocations of worker group `group` (undefined: of the whole study). */
async function resolveShape(
  flags: AutoscaleFlags,
  loaded: LoadedStudy,
  prefix: string,
  err: Writable,
  group: string | undefined,
): Promise<ResolvedAutoscale> {
  const g = group === undefined ? undefined : resolveWorkerGroup(loaded.study, loaded.expanded, group);
  const settings = resolveAllocationSettings(
    { ...flags, nodes: flags.nodesPerAllocation ?? g?.nodes ?? 1, concurrency: g?.concurrency ?? flags.concurrency },
    {
      batch: g ? g.batch : loaded.study.batch.settings,
      queues: g ? g.queues : studyQueues(loaded.expanded),
      prefix,
      // Each group's allocations are told apart in the scheduler's queue by their job name.
      studyName: g ? `${loaded.study.name}.${g.name}` : loaded.study.name,
      scheduler: flags.autoscale,
      needWalltime: flags.autoscale !== 'local',
      idleTimeout: '1m',
    },
  );
  const client = schedulerClient(settings.scheduler);
  const nodes = await probeNodes(settings, client, (reason) =>
    err.write(
      `warning: cannot ask ${settings.scheduler} how large its nodes are (${reason}); allocations are sized to --nodes-per-allocation\n`,
    ),
  );
  const coresPerNode = nodes.coresPerNode;
  const { refused, warnings } = checkStudyFits(
    studyDemandGroups(loaded.expanded),
    { ...settings, gpusPerNode: nodes.gpusPerNode },
    coresPerNode,
  );
  for (const w of warnings) err.write(`warning: ${w}\n`);
  if (refused.length > 0) {
    throw new AllocationError(
      AllocationErrorCode.TooSmall,
      `nothing started: steps of the study can never run in the allocations --autoscale would submit${g ? ` for worker group ${g.name}` : ''}:\n  ${refused.join('\n  ')}`,
    );
  }
  return {
    settings,
    client,
    coresPerNode,
    maxAllocations: flags.maxAllocations ?? 1,
    preemptMarginMs: settings.preemptMargin === undefined ? 60_000 : durationMs(settings.preemptMargin),
  };
}

/** The autoscaler's full configuration, once the study's root and Redis are known. */
export function autoscaleConfig(
  shapes: readonly ResolvedAutoscale[],
  redis: RedisTarget,
  study: { root: string; id: string; prefix: string },
  err: Writable,
): AutoscaleConfig[] {
  const workers = workerRedis(redis);
  const warning = unixSocketWarning(workers.redisUrl, shapes[0]!.settings.scheduler);
  if (warning) err.write(`${warning}\n`);
  return shapes.map((r) => ({
    settings: r.settings,
    client: r.client,
    coresPerNode: r.coresPerNode,
    maxAllocations: r.maxAllocations,
    preemptMarginMs: r.preemptMarginMs,
    target: {
      ...workers,
      prefix: study.prefix,
      dir: path.join(study.root, 'workers'),
      origin: 'autoscale',
      studyId: study.id,
    },
  }));
}

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The autoscale flags again, for `maestro run --detach` to hand to the conductor it starts. */
export function autoscaleArgs(flags: AutoscaleFlags): string[] {
  const args: string[] = [];
  const keys: (keyof AutoscaleFlags)[] = [
    'autoscale',
    'maxAllocations',
    'nodesPerAllocation',
    'walltime',
    'partition',
    'queue',
    'account',
    'bank',
    'reservation',
    'qos',
    'gpusPerNode',
    'workersPerNode',
    'coresPerNode',
    'idleTimeout',
    'preemptMargin',
    'extra',
    'jobName',
    'template',
  ];
  for (const k of keys) {
    const v = flags[k];
    if (v !== undefined) args.push(`--${kebab(k)}`, String(v));
  }
  return args;
}
