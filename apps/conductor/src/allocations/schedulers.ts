/**
 * Talking to the schedulers: submit a written batch script, cancel allocations, ask their
 * states, ask how large a node is. The only place that knows their commands and output:
 * - Slurm: `sbatch --parsable`, `scancel`, `squeue -h -t all -j IDS -o '%i %T'`, `sinfo -h -N -o '%P %c'`;
 * - Flux (tested with flux-core 0.88): `flux batch`, `flux cancel`, `flux jobs -a -n -o
 *   '{id.f58} {state}'`, `flux queue list -n -o '{queue}'` (a queue given must be one of them;
 *   an instance without queues has one unnamed queue and refuses any `-q`), and `flux resource
 *   list -s up -n -o '{rlist}' [-q QUEUE]` for the nodes' cores and GPUs. Job ids are kept in
 *   their `f` form (canonicalAllocationId): `flux batch` prints `ƒ` or `f` by locale;
 * - local: the script runs in the background in its own process group, whose pid is the id.
 *
 * Scheduler commands run without the MAESTRO_* variables of this process: sbatch and flux batch
 * copy the submitter's environment into the job, and MAESTRO_REDIS_URL may hold a password.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { canonicalAllocationId, type SchedulerName } from '@maestro/protocol';
import { runProcess, startDetached, type ProcessOutcome } from '../exec/index.js';
import { AllocationError, AllocationErrorCode } from './errors.js';
import type { Command } from './render.js';

/** `ended` also covers an allocation the scheduler no longer knows. */
export type AllocationState = 'pending' | 'running' | 'ended';

export interface SchedulerClient {
  readonly name: SchedulerName;
  /** Runs the submit command in `cwd`; returns the allocation id. Throws AllocationError (Submit). */
  submit(command: Command, cwd: string, output: string): Promise<string>;
  cancel(ids: readonly string[]): Promise<void>;
  /** States of these allocations; throws AllocationError (Scheduler) if the scheduler cannot say. */
  states(ids: readonly string[]): Promise<Map<string, AllocationState>>;
  /**
   * Cores per node (smallest and largest) of a partition (Flux: queue), or of the default one,
   * and the GPUs of its smallest node where the scheduler says; undefined if unknown. Throws
   * AllocationError (Invalid) for a partition or queue the scheduler does not have.
   */
  nodeCores(partition: string | undefined): Promise<NodeSize | undefined>;
}

export interface NodeSize {
  readonly min: number;
  readonly max: number;
  readonly gpus?: number | undefined;
}

const QUERY_TIMEOUT_MS = 60_000;

/** This process's environment without maestro's own variables (see the header). */
export function submitEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MAESTRO_')) env[k] = v;
  return env;
}

async function run(file: string, args: readonly string[], cwd = process.cwd()): Promise<ProcessOutcome> {
  return runProcess(file, args, { cwd, env: submitEnvironment(), inheritEnv: false, timeoutMs: QUERY_TIMEOUT_MS });
}

/** `sbatch: error: ...` as one line, for messages. */
function describe(command: string, o: ProcessOutcome): string {
  switch (o.kind) {
    case 'exited': {
      const text = (o.stderr.trim() || o.stdout.trim()).split('\n').slice(-3).join(' / ');
      return `${command} exited with code ${o.exitCode}${text ? `: ${text}` : ''}`;
    }
    case 'killed':
      return `${command} was killed by ${o.signal}`;
    case 'not-started':
      return o.errorCode === 'ENOENT'
        ? `${command} is not installed here (not on PATH)`
        : `${command} did not start: ${o.message}`;
    case 'failed':
      return `${command} failed: ${o.message}`;
    default: {
      const never: never = o;
      return never;
    }
  }
}

const ok = (o: ProcessOutcome): o is Extract<ProcessOutcome, { kind: 'exited' }> =>
  o.kind === 'exited' && o.exitCode === 0;

export function schedulerClient(name: SchedulerName): SchedulerClient {
  switch (name) {
    case 'slurm':
      return slurm;
    case 'flux':
      return flux;
    case 'local':
      return local;
    default: {
      const never: never = name;
      return never;
    }
  }
}

const slurm: SchedulerClient = {
  name: 'slurm',
  async submit(command, cwd) {
    const o = await run(command.file, command.args, cwd);
    const id = ok(o) ? /^(\d+)(?:;\S*)?\s*$/.exec(o.stdout.trim())?.[1] : undefined;
    if (!id) throw new AllocationError(AllocationErrorCode.Submit, describe('sbatch', o));
    return id;
  },
  async cancel(ids) {
    if (ids.length === 0) return;
    const o = await run('scancel', ids);
    if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('scancel', o));
  },
  async states(ids) {
    const states = new Map<string, AllocationState>(ids.map((id) => [id, 'ended']));
    if (ids.length === 0) return states;
    const o = await run('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i %T']);
    if (o.kind === 'exited' && o.exitCode !== 0 && /Invalid job id/i.test(o.stderr)) return states; // all gone
    if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('squeue', o));
    for (const line of o.stdout.split('\n')) {
      const [id, state] = line.trim().split(/\s+/);
      if (id && state && states.has(id)) states.set(id, slurmState(state));
    }
    return states;
  },
  async nodeCores(partition) {
    const o = await run('sinfo', ['-h', '-N', '-o', '%P %c']);
    if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('sinfo', o));
    const cores = o.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(
        ([p]) => p !== undefined && (partition === undefined ? p.endsWith('*') : p.replace(/\*$/, '') === partition),
      )
      .map(([, c]) => parseInt(c ?? '', 10))
      .filter((c) => Number.isInteger(c) && c > 0);
    if (cores.length === 0) {
      if (partition !== undefined) {
        throw new AllocationError(
          AllocationErrorCode.Invalid,
          `--partition: Slurm has no partition '${partition}' (sinfo)`,
        );
      }
      return undefined;
    }
    return { min: Math.min(...cores), max: Math.max(...cores) };
  },
};

/** squeue %T: PENDING, CONFIGURING, RUNNING, SUSPENDED, COMPLETING, COMPLETED, CANCELLED, TIMEOUT, ... */
function slurmState(state: string): AllocationState {
  if (state === 'PENDING' || state === 'CONFIGURING' || state === 'REQUEUED' || state === 'RESIZING') return 'pending';
  if (state === 'RUNNING' || state === 'SUSPENDED') return 'running';
  return 'ended';
}

/** Flux ids as maestro keeps them (`f…`), which every flux command takes in any locale. */
const fluxId = (id: string): string => canonicalAllocationId('flux', id);

const flux: SchedulerClient = {
  name: 'flux',
  async submit(command, cwd) {
    const o = await run(command.file, command.args, cwd);
    const id = ok(o) ? o.stdout.trim().split('\n').pop()?.trim() : undefined;
    if (!id || /\s/.test(id)) throw new AllocationError(AllocationErrorCode.Submit, describe('flux batch', o));
    return fluxId(id);
  },
  async cancel(ids) {
    if (ids.length === 0) return;
    // flux cancel cancels what it can and fails for a job already over ("job is inactive",
    // "unknown job id" once purged): those are cancelled as far as maestro is concerned.
    const o = await run('flux', ['cancel', ...ids.map(fluxId)]);
    if (o.kind === 'exited' && (o.exitCode === 0 || (o.exitCode === 1 && onlyOver(o.stderr)))) return;
    throw new AllocationError(AllocationErrorCode.Scheduler, describe('flux cancel', o));
  },
  async states(ids) {
    const states = new Map<string, AllocationState>(ids.map((id) => [id, 'ended']));
    if (ids.length === 0) return states;
    const o = await run('flux', ['jobs', '-a', '-n', '-o', '{id.f58} {state}']);
    if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('flux jobs', o));
    const byId = new Map(ids.map((id) => [fluxId(id), id]));
    for (const line of o.stdout.split('\n')) {
      const [id, state] = line.trim().split(/\s+/);
      const ours = id === undefined ? undefined : byId.get(fluxId(id));
      if (ours && state) states.set(ours, fluxState(state));
    }
    return states;
  },
  async nodeCores(queue) {
    await checkFluxQueue(queue);
    const o = await run('flux', [
      'resource',
      'list',
      '-s',
      'up',
      '-n',
      '-o',
      '{rlist}',
      ...(queue ? ['-q', queue] : []),
    ]);
    if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('flux resource list', o));
    return nodeSizeOfRlist(o.stdout);
  },
};

/** flux cancel's errors all say the jobs are over already. */
function onlyOver(stderr: string): boolean {
  const lines = stderr.split('\n').filter((l) => l.trim());
  return lines.length > 0 && lines.every((l) => /: (job is inactive|unknown job id)$/.test(l.trim()));
}

/** A queue given must be one `flux queue list` names; an instance without queues takes none. */
async function checkFluxQueue(queue: string | undefined): Promise<void> {
  if (queue === undefined) return;
  const o = await run('flux', ['queue', 'list', '-n', '-o', '{queue}']);
  if (!ok(o)) throw new AllocationError(AllocationErrorCode.Scheduler, describe('flux queue list', o));
  const queues = o.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (queues.includes(queue)) return;
  throw new AllocationError(
    AllocationErrorCode.Invalid,
    queues.length === 0
      ? `--queue: this Flux instance has no queues (flux queue list), so it refuses -q ${queue}; leave --queue (and the spec's batch.queue) out`
      : `--queue: Flux has no queue '${queue}'; flux queue list names ${queues.join(', ')}`,
  );
}

/**
 * Node sizes from `flux resource list -o '{rlist}'`: groups of ranks with the same children,
 * e.g. `rank[0-1]/core[0-1] rank2/core[0-3],gpu[0-1]`. Undefined when it lists no node.
 */
export function nodeSizeOfRlist(text: string): NodeSize | undefined {
  const count = (set: string | undefined): number => {
    if (set === undefined) return 0;
    let n = 0;
    for (const part of set.replace(/^\[|\]$/g, '').split(',')) {
      const [a, b] = part.split('-').map(Number);
      if (Number.isInteger(a)) n += b !== undefined && Number.isInteger(b) ? b - a! + 1 : 1;
    }
    return n;
  };
  const nodes: { cores: number; gpus: number }[] = [];
  for (const group of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^rank(\[[\d,-]+\]|\d+)\/(.*)$/.exec(group);
    if (!m) continue;
    const children = new Map(
      m[2]!.split(/,(?=[a-z])/).map((c) => {
        const k = /^([a-z]+)(\[[\d,-]+\]|\d+)$/.exec(c);
        return [k?.[1] ?? c, k?.[2]] as const;
      }),
    );
    const node = { cores: count(children.get('core')), gpus: count(children.get('gpu')) };
    for (let k = count(m[1]); k > 0; k--) nodes.push(node);
  }
  const cores = nodes.map((n) => n.cores).filter((c) => c > 0);
  if (cores.length === 0) return undefined;
  return { min: Math.min(...cores), max: Math.max(...cores), gpus: Math.min(...nodes.map((n) => n.gpus)) };
}

/** flux jobs {state}: DEPEND, PRIORITY, SCHED, RUN, CLEANUP, INACTIVE. */
function fluxState(state: string): AllocationState {
  if (state === 'DEPEND' || state === 'PRIORITY' || state === 'SCHED' || state === 'NEW') return 'pending';
  if (state === 'RUN') return 'running';
  return 'ended';
}

const local: SchedulerClient = {
  name: 'local',
  async submit(command, cwd, output) {
    try {
      return String(await startDetached(command.file, command.args, { cwd, env: submitEnvironment(), output }));
    } catch (err) {
      throw new AllocationError(AllocationErrorCode.Submit, (err as Error).message);
    }
  },
  async cancel(ids) {
    for (const id of ids) {
      try {
        process.kill(-Number(id), 'SIGTERM'); // the whole group: the shell and its workers
      } catch {
        // already gone
      }
    }
  },
  async states(ids) {
    return new Map(ids.map((id) => [id, processAlive(Number(id)) ? 'running' : 'ended']));
  },
  async nodeCores() {
    const n = availableParallelism();
    return { min: n, max: n };
  },
};

/** Alive and not a zombie. */
function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}
