/**
 * Launching an allocation of workers: check that the study's steps fit it, render the batch
 * script from its template, write it beside the study, submit it and record it in Redis. Used by
 * `maestro workers launch` and by the autoscaler of `maestro run --autoscale`.
 *
 * Invariants: the script holds no password (the Redis URL goes in without one, the password only
 * as the path of a file the user alone can read); nothing is submitted for an allocation whose
 * nodes are too small for a step of the study (Slurm would accept it and keep it pending forever).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fitStep,
  formatWalltime,
  stepDemand,
  type AllocationRecord,
  type SchedulerName,
  type StepResources,
  type WorkerCapacity,
} from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import { jobSettingsOf } from '../conductor/index.js';
import { workerBin } from '../exec/index.js';
import type { FleetStore } from '../redis/index.js';
import { AllocationError, AllocationErrorCode } from './errors.js';
import { renderScript, submitCommand, type Command, type ScriptRequest } from './render.js';
import type { NodeSize, SchedulerClient } from './schedulers.js';

/** An allocation as asked for, checked. */
export interface LaunchSettings {
  readonly scheduler: SchedulerName;
  readonly nodes: number;
  readonly walltimeSeconds?: number | undefined;
  readonly partition?: string | undefined;
  readonly account?: string | undefined;
  readonly reservation?: string | undefined;
  readonly qos?: string | undefined;
  readonly gpusPerNode?: number | undefined;
  readonly workersPerNode: number;
  /**
   * Cores per node when the scheduler cannot say, or fewer than it says (never more: probeNodes
   * refuses that). The workers get this share each instead of asking.
   */
  readonly coresPerNode?: number | undefined;
  /** Steps at once per worker; undefined = its cores. */
  readonly concurrency?: number | undefined;
  readonly queues: readonly string[];
  /** Durations as the worker reads them (`30s`, `5m`). */
  readonly idleTimeout?: string | undefined;
  readonly preemptMargin?: string | undefined;
  /** Raw scheduler flags, one directive line. */
  readonly extra?: string | undefined;
  readonly jobName: string;
  /** A site's own template instead of deploy/<scheduler>/. */
  readonly template?: string | undefined;
}

/** Where the workers report, and where the script goes. */
export interface LaunchTarget {
  /** The Redis URL for the workers, without a password. */
  readonly redisUrl: string;
  readonly passwordFile?: string | undefined;
  readonly sentinelPasswordFile?: string | undefined;
  readonly tlsCaFile?: string | undefined;
  readonly prefix: string;
  /** Folder of the script and of the allocation's output. */
  readonly dir: string;
  readonly origin: AllocationRecord['origin'];
  readonly studyId?: string | undefined;
}

export interface PreparedLaunch {
  readonly settings: LaunchSettings;
  readonly target: LaunchTarget;
  readonly request: ScriptRequest;
  readonly script: string;
  readonly scriptPath: string;
  readonly command: Command;
}

const TEMPLATES: Record<SchedulerName, string> = {
  slurm: 'slurm/workers.sbatch',
  flux: 'flux/workers.sh',
  local: 'local/workers.sh',
};

/** deploy/<scheduler>/... of this installation (from dist/allocations/ or src/allocations/). */
export function defaultTemplate(scheduler: SchedulerName): string {
  return fileURLToPath(new URL(`../../../../deploy/${TEMPLATES[scheduler]}`, import.meta.url));
}

/** Renders the script and the submit command; reads the template, writes nothing. */
export async function prepareLaunch(
  settings: LaunchSettings,
  target: LaunchTarget,
  now: Date,
): Promise<PreparedLaunch> {
  if (/\s/.test(target.dir)) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      `the allocation folder ${target.dir} holds a space, which scheduler directives cannot quote; use another (-o DIR)`,
    );
  }
  const templateFile = settings.template ?? defaultTemplate(settings.scheduler);
  let template: string;
  try {
    template = await readFile(templateFile, 'utf8');
  } catch (err) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      `cannot read the template ${templateFile}: ${(err as Error).message}`,
    );
  }
  const stamp = `${now.toISOString().replace(/[-:]/g, '').replace('T', '-').replace(/\..*$/, '')}-${randomBytes(2).toString('hex')}`;
  const base = `workers-${settings.scheduler}-${stamp}`;
  const scriptPath = path.join(target.dir, `${base}${settings.scheduler === 'slurm' ? '.sbatch' : '.sh'}`);
  const output =
    settings.scheduler === 'slurm'
      ? path.join(target.dir, 'slurm-%j.out')
      : settings.scheduler === 'flux'
        ? path.join(target.dir, 'flux-{{id}}.out')
        : path.join(target.dir, `${base}.out`);
  const request: ScriptRequest = {
    scheduler: settings.scheduler,
    jobName: settings.jobName,
    nodes: settings.nodes,
    walltimeSeconds: settings.walltimeSeconds,
    partition: settings.partition,
    account: settings.account,
    reservation: settings.reservation,
    qos: settings.qos,
    gpusPerNode: settings.gpusPerNode,
    extra: settings.extra,
    output,
    env: workerEnvironment(settings, target, now),
  };
  let script: string;
  try {
    script = renderScript(template, request);
  } catch (err) {
    throw new AllocationError(AllocationErrorCode.Invalid, `${templateFile}: ${(err as Error).message}`);
  }
  return { settings, target, request, script, scriptPath, command: submitCommand(request, scriptPath) };
}

/** What the workers are told, as MAESTRO_* variables (maestro-worker reads them). */
function workerEnvironment(s: LaunchSettings, t: LaunchTarget, now: Date): Record<string, string> {
  const env: Record<string, string> = {
    MAESTRO_SCHEDULER: s.scheduler,
    MAESTRO_REDIS_URL: t.redisUrl,
  };
  if (t.passwordFile) env['MAESTRO_REDIS_PASSWORD_FILE'] = t.passwordFile;
  if (t.sentinelPasswordFile) env['MAESTRO_SENTINEL_PASSWORD_FILE'] = t.sentinelPasswordFile;
  if (t.tlsCaFile) env['MAESTRO_REDIS_TLS_CA_FILE'] = t.tlsCaFile;
  env['MAESTRO_PREFIX'] = t.prefix;
  env['MAESTRO_QUEUES'] = s.queues.join(',');
  env['MAESTRO_NODES'] = String(s.nodes);
  env['MAESTRO_WORKERS_PER_NODE'] = String(s.workersPerNode);
  // Given by hand (at most what a node has): each worker takes its share instead of asking.
  if (s.coresPerNode !== undefined)
    env['MAESTRO_CORES'] = String(Math.max(1, Math.floor(s.coresPerNode / s.workersPerNode)));
  if (s.concurrency !== undefined) env['MAESTRO_CONCURRENCY'] = String(s.concurrency);
  if (s.idleTimeout !== undefined) env['MAESTRO_IDLE_TIMEOUT'] = s.idleTimeout;
  if (s.preemptMargin !== undefined) env['MAESTRO_PREEMPT_MARGIN'] = s.preemptMargin;
  if (s.scheduler === 'local' && s.walltimeSeconds !== undefined) {
    env['MAESTRO_ALLOCATION_ENDS_AT'] = String(now.getTime() + s.walltimeSeconds * 1000);
  }
  // The same node and maestro on every node: a shared file system, as on HPC clusters.
  env['MAESTRO_NODE'] = process.execPath;
  env['MAESTRO_WORKER_BIN'] = workerBin();
  return env;
}

/** Writes the script (no password in it), submits it, records the allocation. */
export async function submitLaunch(
  p: PreparedLaunch,
  client: SchedulerClient,
  fleet: FleetStore,
  nowMs: number,
): Promise<AllocationRecord> {
  await mkdir(p.target.dir, { recursive: true });
  await writeFile(p.scriptPath, p.script, { mode: 0o755 });
  const output = p.request.output;
  const id = await client.submit(p.command, p.target.dir, output);
  const record: AllocationRecord = {
    scheduler: p.settings.scheduler,
    id,
    nodes: p.settings.nodes,
    ...(p.settings.walltimeSeconds !== undefined ? { walltimeSeconds: p.settings.walltimeSeconds } : {}),
    submittedAt: nowMs,
    script: p.scriptPath,
    queues: [...p.settings.queues],
    origin: p.target.origin,
    ...(p.target.studyId ? { studyId: p.target.studyId } : {}),
  };
  await fleet.recordAllocation(record);
  return record;
}

// ---- the nodes, and do the study's steps fit? --------------------------------------------------

/** The size of an allocation's nodes: given, else as the scheduler says; undefined when unknown. */
export interface ProbedNodes {
  readonly coresPerNode: number | undefined;
  readonly gpusPerNode: number | undefined;
}

/**
 * Asks the scheduler how large its nodes are (sinfo, flux resource list) and checks what was
 * given against it: a partition or queue it does not have, or `--cores-per-node` above its
 * largest node, throws AllocationError (Invalid) before anything is submitted. A scheduler that
 * cannot be asked is not fatal: what was given stands, and `cannotAsk` gets the reason when
 * nothing was given (then steps are not checked against the nodes).
 */
export async function probeNodes(
  s: LaunchSettings,
  client: SchedulerClient,
  cannotAsk: (reason: string) => void,
): Promise<ProbedNodes> {
  let size: NodeSize | undefined;
  try {
    size = await client.nodeCores(s.partition);
  } catch (e) {
    if (e instanceof AllocationError && e.code === AllocationErrorCode.Invalid) throw e;
    // With --cores-per-node given nothing is missing: only what it is checked against.
    if (s.coresPerNode === undefined) cannotAsk((e as Error).message);
  }
  if (s.scheduler !== 'local' && s.coresPerNode !== undefined && size !== undefined && s.coresPerNode > size.max) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      `--cores-per-node ${s.coresPerNode}: ${s.scheduler === 'flux' ? 'Flux' : 'Slurm'}'s nodes${s.partition ? ` in ${s.partition}` : ''} have at most ${size.max} cores; a worker would hand out cores it does not have (leave it out: the workers ask)`,
    );
  }
  return { coresPerNode: s.coresPerNode ?? size?.max, gpusPerNode: s.gpusPerNode ?? size?.gpus };
}

/** Instances of one step that ask for the same resources and walltime. */
export interface DemandGroup {
  readonly step: string;
  readonly queue: string;
  readonly instances: number;
  readonly resources: StepResources;
  readonly timeoutMs: number | undefined;
}

/** The study's steps, grouped by what they ask for (instances of one step usually ask the same). */
export function studyDemandGroups(x: ExpandedStudy): DemandGroup[] {
  const groups = new Map<string, DemandGroup & { instances: number }>();
  for (let i = 0; i < x.instanceCount; i++) {
    const inst = x.instance(i);
    const { queue, timeoutMs, resources } = jobSettingsOf(x, inst);
    const key = JSON.stringify([inst.step, queue, resources, timeoutMs]);
    const g = groups.get(key);
    if (g) g.instances++;
    else groups.set(key, { step: inst.step, queue, instances: 1, resources, timeoutMs });
  }
  return [...groups.values()];
}

/** What each worker of the allocation gets. */
export function workerCapacity(s: LaunchSettings, coresPerNode: number | undefined): WorkerCapacity {
  return {
    cores: coresPerNode === undefined ? Number.MAX_SAFE_INTEGER : Math.floor(coresPerNode / s.workersPerNode),
    gpus: Math.floor((s.gpusPerNode ?? 0) / s.workersPerNode),
    nodes: s.nodes,
    scheduler: s.scheduler,
  };
}

/**
 * Steps (of the queues the allocation serves) that can never run in it. Too many cores for a
 * node are refused (`refused`): no allocation of these nodes can ever help. Too many GPUs or
 * nodes, or a walltime longer than the allocation's, are `warnings`: another allocation can run
 * them.
 */
export function checkStudyFits(
  groups: readonly DemandGroup[],
  s: LaunchSettings,
  coresPerNode: number | undefined,
): { refused: string[]; warnings: string[] } {
  const refused: string[] = [];
  const warnings: string[] = [];
  const capacity = workerCapacity(s, coresPerNode);
  const perWorker =
    s.workersPerNode > 1 ? ` (${s.workersPerNode} workers per node share its ${coresPerNode} cores)` : '';
  for (const g of groups) {
    if (!s.queues.includes(g.queue)) continue;
    const what = `step ${g.step}${g.instances > 1 ? ` (${g.instances} instances)` : ''}`;
    const d = stepDemand(g.resources);
    if (coresPerNode !== undefined && d.cores > capacity.cores) {
      refused.push(`${what} needs ${d.cores} cores on a node; a worker here has ${capacity.cores}${perWorker}`);
      continue;
    }
    const fit = fitStep(d, { ...capacity, cores: Math.max(capacity.cores, d.cores) });
    if (!fit.fits) warnings.push(`${what} cannot run in this allocation: it ${fit.reason}`);
    if (s.walltimeSeconds !== undefined && g.timeoutMs !== undefined && g.timeoutMs > s.walltimeSeconds * 1000) {
      warnings.push(
        `${what} has a walltime of ${formatWalltime(g.timeoutMs / 1000)}, longer than this allocation's ${formatWalltime(s.walltimeSeconds)}: it will not start here`,
      );
    }
  }
  return { refused, warnings };
}
