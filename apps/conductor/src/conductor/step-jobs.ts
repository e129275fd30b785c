/** Turns a step instance into the StepJob a worker runs. */
import {
  DEFAULT_QUEUE,
  PROTOCOL_VERSION,
  parseWalltimeSeconds,
  STATE_FLAG_DELAYED,
  STATE_FLAG_RESTART,
  stepJobId,
  type StateRecord,
  type StepJob,
  type StepResources,
} from '@maestro/protocol';
import path from 'node:path';
import { readCount, readFlag, renderStepScript, shellOf, type ExpandedStudy, type StepInstance } from '@maestro/spec';
import type { QueuedJob } from '../queue/index.js';
import { retryDelayMsOf } from './return-codes.js';

export function buildStepJob(
  x: ExpandedStudy,
  i: number,
  record: Pick<StateRecord, 'flags' | 'attempt' | 'bundle'>,
  ids: { prefix: string; studyId: string },
): QueuedJob {
  const inst = x.instance(i);
  const kind = record.flags & STATE_FLAG_RESTART && inst.restart ? 'restart' : 'cmd';
  const { queue, shell, interpreter, timeoutMs, resources } = jobSettingsOf(x, inst);
  const data: StepJob = {
    protocol: PROTOCOL_VERSION,
    prefix: ids.prefix,
    studyId: ids.studyId,
    index: i,
    attempt: record.attempt,
    name: inst.name,
    workspace: path.join(x.root, inst.workspace),
    fileName: inst.fileName,
    kind,
    script: renderStepScript(shell, kind === 'restart' ? inst.restart! : inst.cmd),
    interpreter,
    timeoutMs,
    resources,
    env: {},
  };
  const id = stepJobId(ids.studyId, record.bundle, record.attempt);
  if (record.flags & STATE_FLAG_DELAYED) return { queue, id, data, delayMs: retryDelayMsOf(inst.run) };
  return { queue, id, data };
}

/**
 * Whether `b` may ride in the bundle that `a` leads: the same queue, interpreter, walltime,
 * resources, kind and attempt number (the worker runs every member with the first's settings,
 * and the bundle's id holds the first's attempt).
 */
export function fitsBundle(a: QueuedJob, b: QueuedJob): boolean {
  const x = a.data;
  const y = b.data;
  return (
    a.queue === b.queue &&
    a.delayMs === b.delayMs &&
    x.attempt === y.attempt &&
    x.kind === y.kind &&
    x.timeoutMs === y.timeoutMs &&
    x.interpreter.length === y.interpreter.length &&
    x.interpreter.every((v, k) => v === y.interpreter[k]) &&
    sameResources(x.resources, y.resources)
  );
}

function sameResources(a: StepResources, b: StepResources): boolean {
  return (
    a.nodes === b.nodes &&
    a.procs === b.procs &&
    a.coresPerTask === b.coresPerTask &&
    a.gpus === b.gpus &&
    a.exclusive === b.exclusive
  );
}

/** One job carrying `jobs` (at least one; see StepJob.more): the first's id and settings. */
export function bundleJob(jobs: readonly QueuedJob[], budgetMs: number): QueuedJob {
  return carrying(jobs, { bundleBudgetMs: budgetMs });
}

/** One job running `jobs` in order, each only after the one before it succeeded (StepJob.chain). */
export function chainJob(jobs: readonly QueuedJob[]): QueuedJob {
  return carrying(jobs, { chain: true });
}

function carrying(jobs: readonly QueuedJob[], extra: Pick<StepJob, 'bundleBudgetMs' | 'chain'>): QueuedJob {
  // A chain or bundle waits as long as its first job does (fitsBundle keeps bundles to one delay).
  const [first, ...rest] = jobs;
  if (!first) throw new Error('an empty bundle');
  if (rest.length === 0) return first;
  const more = rest.map(({ data: d }) => ({
    index: d.index,
    attempt: d.attempt,
    name: d.name,
    workspace: d.workspace,
    fileName: d.fileName,
    kind: d.kind,
    script: d.script,
    env: d.env,
  }));
  return { ...first, data: { ...first.data, more, ...extra } };
}

/** What the spec decides about how an instance runs, whatever its attempt. */
export interface JobSettings {
  /** The step's `task_queue`, else DEFAULT_QUEUE. */
  readonly queue: string;
  /** The step's `shell`, else `batch.shell`: the script's `#!` line. */
  readonly shell: string;
  /** `shell` split into the command that runs the script. */
  readonly interpreter: string[];
  /** From `walltime`; undefined: no limit. */
  readonly timeoutMs: number | undefined;
  readonly resources: StepResources;
}

/** The spec's part of the StepJob of `inst` (also what `maestro expand --json` shows as `job`). */
export function jobSettingsOf(x: ExpandedStudy, inst: StepInstance): JobSettings {
  const shell = shellOf(x, inst);
  return {
    queue: typeof inst.run['task_queue'] === 'string' ? inst.run['task_queue'] : DEFAULT_QUEUE,
    shell,
    interpreter: shell.trim().split(/\s+/),
    timeoutMs: timeoutMsOf(inst),
    resources: resourcesOf(inst),
  };
}

/** The `run` keys jobSettingsOf reads. */
const SETTINGS_KEYS = ['task_queue', 'shell', 'walltime', 'nodes', 'procs', 'cores per task', 'gpus', 'exclusive'];

/**
 * Whether the instances of step `s` may differ in their JobSettings: some key jobSettingsOf
 * reads holds a `$(...)` token. When none does, the first instance's settings are everyone's.
 */
export function settingsVaryByInstance(x: ExpandedStudy, s: number): boolean {
  const run = x.steps[s]!.run as Record<string, unknown>;
  return SETTINGS_KEYS.some((k) => typeof run[k] === 'string' && run[k].includes('$('));
}

/** The queues the study's jobs go to. */
export function queueNamesOf(x: ExpandedStudy): string[] {
  const names = new Set<string>();
  x.steps.forEach((step, s) => {
    const count = settingsVaryByInstance(x, s) ? step.instanceCount : Math.min(1, step.instanceCount);
    for (let k = 0; k < count; k++) names.add(jobSettingsOf(x, x.instance(step.firstInstance + k)).queue);
  });
  return [...names];
}

/**
 * The instance's walltime in ms. Expansion refused every walltime this parser cannot read
 * (@maestro/spec's `isWalltime` is this parser), so it does not throw here.
 */
export function timeoutMsOf(inst: StepInstance): number | undefined {
  const w = inst.run['walltime'];
  if (typeof w !== 'string' && typeof w !== 'number') return undefined;
  const s = parseWalltimeSeconds(w);
  return s === undefined ? undefined : s * 1000;
}

/**
 * The resources a worker gives the instance. Values from `$(NAME)` tokens arrive as text; expansion
 * already refused counts that are not whole numbers, so reading them cannot fail here.
 */
export function resourcesOf(inst: StepInstance): StepResources {
  const r: StepResources = {};
  const nodes = readCount(inst.run['nodes']);
  const procs = readCount(inst.run['procs']);
  const cpt = readCount(inst.run['cores per task']);
  const gpus = readCount(inst.run['gpus']);
  if (nodes && nodes > 0) r.nodes = nodes;
  if (procs && procs > 0) r.procs = procs;
  if (cpt && cpt > 0) r.coresPerTask = cpt;
  if (gpus !== undefined) r.gpus = gpus;
  const exclusive = readFlag(inst.run['exclusive']);
  if (exclusive !== undefined) r.exclusive = exclusive;
  return r;
}
