/**
 * The options that shape an allocation of workers, shared by `maestro workers launch` and
 * `maestro run --autoscale`, and how they resolve: flags first, then the spec's `batch:` block
 * (queue, bank, reservation, qos, nodes, walltime, gpus, type), then defaults.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { parseWalltimeSeconds, SCHEDULERS, type SchedulerName } from '@maestro/protocol';
import { AllocationError, AllocationErrorCode } from '../allocations/errors.js';
import type { LaunchSettings } from '../allocations/launch.js';
import { durationMs, wholeNumber } from './common.js';

export interface AllocationFlags {
  scheduler?: string;
  nodes?: number;
  walltime?: string;
  partition?: string;
  queue?: string;
  account?: string;
  bank?: string;
  reservation?: string;
  qos?: string;
  gpusPerNode?: number;
  workersPerNode?: number;
  coresPerNode?: number;
  concurrency?: number;
  queues?: string;
  idleTimeout?: string;
  preemptMargin?: string;
  extra?: string;
  jobName?: string;
  template?: string;
}

/**
 * Adds the allocation options. For `run`, the scheduler is `--autoscale` and the node count
 * `--nodes-per-allocation` (what it may use at most), and --queues/--concurrency are the study's.
 */
export function addAllocationOptions(cmd: Command, { forRun = false }: { forRun?: boolean } = {}): Command {
  if (!forRun) {
    cmd
      .addOption(
        new Option('--scheduler <name>', "slurm, flux or local (default: the spec's batch type)").choices(SCHEDULERS),
      )
      .addOption(
        new Option('--nodes <n>', "nodes (default: the spec's batch nodes, else 1)").argParser(
          wholeNumber('--nodes', 1),
        ),
      )
      .addOption(
        new Option('--concurrency <n>', 'steps each worker runs at once at most (default: its cores)').argParser(
          wholeNumber('--concurrency', 1),
        ),
      )
      .option('--queues <names>', "queues the workers take steps from (default: the study's, else steps)");
  }
  return cmd
    .option(
      '--walltime <time>',
      "walltime of an allocation: minutes, H:M:S, D-H:M:S, or a Flux duration (30s, 5m, 2h, 1d) (default: the spec's batch walltime)",
    )
    .option('--partition <name>', "Slurm partition / Flux queue (default: the spec's batch queue)")
    .option('--queue <name>', 'Flux queue (the same as --partition), checked against flux queue list')
    .option('--account <name>', "Slurm account / Flux bank (default: the spec's batch bank)")
    .option('--bank <name>', 'Flux bank (the same as --account): --setattr=system.bank=NAME')
    .option('--reservation <name>', "Slurm reservation (default: the spec's batch reservation)")
    .option('--qos <name>', "Slurm quality of service (default: the spec's batch qos)")
    .addOption(new Option('--gpus-per-node <n>', 'GPUs on each node').argParser(wholeNumber('--gpus-per-node')))
    .addOption(
      new Option('--workers-per-node <n>', 'workers on each node, sharing its cores (default: 1)').argParser(
        wholeNumber('--workers-per-node', 1),
      ),
    )
    .addOption(
      new Option(
        '--cores-per-node <n>',
        'cores of a node to use, at most what the scheduler says a node has (default: as it says)',
      ).argParser(wholeNumber('--cores-per-node', 1)),
    )
    .option('--idle-timeout <duration>', `workers exit after this long without work${forRun ? ' (default: 1m)' : ''}`)
    .option('--preempt-margin <duration>', "workers stop steps this long before the allocation's end (default: 60s)")
    .option('--extra <flags>', "raw scheduler flags, e.g. '--constraint=haswell' (one directive line)")
    .option('--job-name <name>', 'job name in the scheduler (default: maestro.<study name>, else maestro.<prefix>)')
    .option('--template <file>', 'batch script template (default: deploy/<scheduler>/ of this installation)');
}

const NAME_RE = /^[A-Za-z0-9_.+:@%=-]+$/;

/** Everything that can go wrong with the options, at once. */
export function resolveAllocationSettings(
  flags: AllocationFlags,
  defaults: {
    /** The spec's `batch:` block, if a study is known. */
    batch?: Readonly<Record<string, unknown>> | undefined;
    /** The study's queues (default: steps). */
    queues: readonly string[];
    prefix: string;
    /** The study's name, for the default job name. */
    studyName?: string | undefined;
    /** `--autoscale` for run. */
    scheduler?: string | undefined;
    /** Walltime is required (autoscale). */
    needWalltime?: boolean;
    idleTimeout?: string | undefined;
  },
): LaunchSettings {
  const problems: string[] = [];
  const batch = defaults.batch ?? {};
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const int = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isInteger(v)
      ? v
      : typeof v === 'string' && /^\d+$/.test(v.trim())
        ? Number(v)
        : undefined;

  const batchType = text(batch['type']);
  const scheduler = (flags.scheduler ??
    defaults.scheduler ??
    (batchType === 'slurm' || batchType === 'flux' ? batchType : undefined)) as SchedulerName | undefined;
  if (scheduler === undefined) {
    // Maestro's other batch types (lsf, lsf-srun, pbs) load and expand; only launching needs one we drive.
    problems.push(
      batchType === undefined || batchType === 'local'
        ? '--scheduler: give slurm, flux or local (the spec names none in batch.type)'
        : `--scheduler: the spec's batch.type '${batchType}' is not a scheduler maestro launches workers with; give slurm, flux or local`,
    );
  } else if (!(SCHEDULERS as readonly string[]).includes(scheduler))
    problems.push(`--scheduler: '${scheduler}' is not one of ${SCHEDULERS.join(', ')}`);

  const same = (a: string | undefined, b: string | undefined, names: string): string | undefined => {
    if (a !== undefined && b !== undefined && a !== b)
      problems.push(`${names}: two different values, '${a}' and '${b}'`);
    return a ?? b;
  };
  const partition = same(flags.partition, flags.queue, '--partition/--queue') ?? text(batch['queue']);
  const account = same(flags.account, flags.bank, '--account/--bank') ?? text(batch['bank']);
  const reservation = flags.reservation ?? text(batch['reservation']);
  const qos = flags.qos ?? text(batch['qos']);
  for (const [flag, v] of [
    ['--partition', partition],
    ['--account', account],
    ['--reservation', reservation],
    ['--qos', qos],
    ['--job-name', flags.jobName],
  ] as const) {
    if (v !== undefined && !NAME_RE.test(v))
      problems.push(`${flag}: '${v}' is not a name (letters, digits and _.+:@%=-)`);
  }
  if (flags.extra !== undefined && /[\n\r]/.test(flags.extra)) problems.push('--extra: must be one line');

  const nodes = flags.nodes ?? int(batch['nodes']) ?? 1;
  let walltimeSeconds: number | undefined;
  const walltime = flags.walltime ?? (batch['walltime'] === undefined ? undefined : String(batch['walltime']));
  if (walltime !== undefined) {
    try {
      walltimeSeconds = parseAllocationWalltime(walltime);
    } catch (err) {
      problems.push(`--walltime: ${(err as Error).message}`);
    }
  }
  if (defaults.needWalltime && walltimeSeconds === undefined && walltime === undefined) {
    problems.push('--walltime: give the walltime of each allocation (or batch.walltime in the spec)');
  }
  const duration = (flag: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    try {
      durationMs(v);
      return v;
    } catch (err) {
      problems.push(`${flag}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const idleTimeout = duration('--idle-timeout', flags.idleTimeout ?? defaults.idleTimeout);
  const preemptMargin = duration('--preempt-margin', flags.preemptMargin);
  const queues = flags.queues
    ? flags.queues
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean)
    : [...defaults.queues];
  if (queues.length === 0) problems.push('--queues: name at least one queue');
  const gpusPerNode = flags.gpusPerNode ?? int(batch['gpus']);
  const template = flags.template === undefined ? undefined : path.resolve(flags.template);
  if (template !== undefined && !existsSync(template)) problems.push(`--template: ${template} does not exist`);

  if (scheduler === 'flux') {
    if (reservation !== undefined)
      problems.push('--reservation: Flux has no reservations; pass what your site uses in --extra');
    if (qos !== undefined) problems.push('--qos: Flux has no QoS; pass what your site uses in --extra');
  }
  if (scheduler === 'local') {
    if (nodes !== 1) problems.push('--nodes: a local allocation is this one machine (1 node)');
    for (const [flag, v] of [
      ['--partition', flags.partition ?? flags.queue],
      ['--account', flags.account ?? flags.bank],
      ['--reservation', flags.reservation],
      ['--qos', flags.qos],
      ['--extra', flags.extra],
    ] as const) {
      if (v !== undefined) problems.push(`${flag}: a local allocation has no scheduler to give it to`);
    }
  }
  if (problems.length > 0) throw new AllocationError(AllocationErrorCode.Invalid, problems.join('\n'));
  return {
    scheduler: scheduler!,
    nodes: scheduler === 'local' ? 1 : nodes,
    walltimeSeconds,
    ...(scheduler === 'local' ? {} : { partition, account, reservation, qos }),
    gpusPerNode,
    workersPerNode: flags.workersPerNode ?? 1,
    coresPerNode: flags.coresPerNode,
    concurrency: flags.concurrency,
    queues,
    idleTimeout,
    preemptMargin,
    extra: flags.extra,
    jobName: flags.jobName ?? defaultJobName(defaults.studyName, defaults.prefix),
    template,
  };
}

/** A Flux Standard Duration with its unit, as `flux batch -t` takes it: `30s`, `5m`, `1.5h`, `2d`. */
const FLUX_DURATION = /^(\d+(?:\.\d+)?)([smhd])$/;
const FLUX_UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/**
 * An allocation's walltime in seconds: Slurm's forms (a bare number is minutes, H:M:S, D-H:M:S)
 * or a Flux duration with its unit (`30s`, `5m`, `2h`, `1d`), whichever the scheduler. Undefined
 * for none (`inf`, `0`); throws a WalltimeError otherwise.
 */
export function parseAllocationWalltime(text: string): number | undefined {
  const m = FLUX_DURATION.exec(text.trim().toLowerCase());
  if (!m) return parseWalltimeSeconds(text);
  const seconds = Math.round(Number(m[1]) * FLUX_UNIT_SECONDS[m[2] as keyof typeof FLUX_UNIT_SECONDS]);
  return seconds === 0 ? undefined : seconds;
}

/** `maestro.<study name>` (made a safe job name), else `maestro.<prefix>`, or `maestro` for the default prefix. */
function defaultJobName(studyName: string | undefined, prefix: string): string {
  const name = studyName?.replace(/[^A-Za-z0-9_.+:@%=-]+/g, '_');
  if (name) return `maestro.${name}`;
  return prefix === 'maestro' ? 'maestro' : `maestro.${prefix}`;
}

/** `--autoscale` and its limits, with the allocation options they use (`run`, `resume`). */
export function addAutoscaleOptions(cmd: Command): Command {
  return addAllocationOptions(
    cmd
      .addOption(
        new Option(
          '--autoscale <scheduler>',
          'submit allocations of workers while work waits (slurm, flux, local)',
        ).choices(SCHEDULERS),
      )
      .addOption(
        new Option('--max-allocations <k>', 'allocations at once at most (default: 1)').argParser(
          wholeNumber('--max-allocations', 1),
        ),
      )
      .addOption(
        new Option(
          '--nodes-per-allocation <n>',
          'nodes of an allocation at most; sized to the work waiting (default: 1)',
        ).argParser(wholeNumber('--nodes-per-allocation', 1)),
      ),
    { forRun: true },
  );
}
