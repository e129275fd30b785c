/** Options shared by the commands that read a spec (`expand`, `validate`, `run`). */
import os from 'node:os';
import { DURATION_EXAMPLES, parseDurationMs } from '@maestro/protocol';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { studyWidth } from '../study/shape.js';
import { DEFAULT_QUARANTINE, type QuarantineSettings } from '../conductor/quarantine.js';
import { wantsWorkerProcesses } from '../run/local-workers.js';

export interface SpecOptions {
  out?: string;
  pgen?: string;
  /** `--pgen-timeout`, in ms. */
  pgenTimeout?: number;
  pargs: string[];
  hashws?: boolean;
  maxInstances?: number;
  workspaceFanout?: number;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function wholeNumber(name: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${name} must be a whole number of at least ${min}, got '${value}'`);
    return n;
  };
}

/** A duration in milliseconds (@maestro/protocol's grammar, which workers read too); throws if it is none. */
export function durationMs(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new Error(`'${value}' is not a duration; write ${DURATION_EXAMPLES}`);
  return ms;
}

export function durationOption(name: string): (value: string) => number {
  return (value) => {
    try {
      return durationMs(value);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  };
}

export const cores = (): number =>
  typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

/** As many steps at once as the study is wide, at most the cores: a chain or a 1-step study one. */
const widthUpToCores = (steps: Parameters<typeof studyWidth>[0]): number =>
  Math.max(1, Math.min(cores(), studyWidth(steps)));

/**
 * Above this many instances a study that runs steps side by side gets worker processes by
 * default instead of the conductor's home worker: their start (~0.25 s of CPU each) is then
 * repaid by a conductor whose one thread no longer also runs the worker. Measured on 2 cores,
 * alternating: 100 no-op steps 670 ms in the conductor against 809 on two processes, 300 steps
 * 1,174 against 1,349, 1,000 steps and a funnel 2,910 against 2,685 (issue #27).
 */
export const HOME_WORKER_MAX_INSTANCES = 500;

/** Where `run` and `resume` run a study's steps on this machine. */
export interface LocalWorkerPlan {
  /** `maestro-worker` processes to start (0: none). */
  readonly processes: number;
  /** Steps at once in the conductor's own process, its home worker (0: none). */
  readonly home: number;
}

/**
 * Worker processes when a flag asks for them (wantsWorkerProcesses) or the study has over
 * HOME_WORKER_MAX_INSTANCES instances side by side; else the home worker. Without
 * `--local-workers`, as many as the study is wide, at most the cores; none with `--autoscale`.
 */
export function localWorkerPlan(
  flags: Pick<ExecutionFlags, 'localWorkers' | 'workerConcurrency'> & { workerArg?: string[] | undefined },
  expanded: { instanceCount: number; steps: Parameters<typeof studyWidth>[0] },
  autoscaled: boolean,
): LocalWorkerPlan {
  const count = flags.localWorkers ?? (autoscaled ? 0 : widthUpToCores(expanded.steps));
  const inConductor = expanded.instanceCount <= HOME_WORKER_MAX_INSTANCES || studyWidth(expanded.steps) <= 1;
  return wantsWorkerProcesses(flags) || !inConductor ? { processes: count, home: 0 } : { processes: 0, home: count };
}

export function addSpecOptions(cmd: Command, { out = true }: { out?: boolean } = {}): Command {
  if (out)
    cmd.option('-o, --out <dir>', 'study root, used as given (default: <OUTPUT_PATH or cwd>/<name>_<timestamp>)');
  return cmd
    .option(
      '-p, --pgen <file>',
      'parameter generator (Python pgen, JS/TS module or executable) replacing global.parameters',
    )
    .option('--pargs <key:value>', 'argument for the parameter generator (repeatable)', collect, [])
    .addOption(
      new Option('--pgen-timeout <duration>', 'stop a parameter generator that runs longer (default: 10m)').argParser(
        durationOption('--pgen-timeout'),
      ),
    )
    .option('--hashws', 'name parameterized workspaces by the md5 of their labels')
    .addOption(
      new Option(
        '--workspace-fanout <n>',
        'nest parameterized workspaces so no folder holds more than N entries',
      ).argParser(wholeNumber('--workspace-fanout', 2)),
    )
    .addOption(
      new Option(
        '--max-instances <n>',
        'refuse studies with more step instances than this (default 2,000,000)',
      ).argParser(wholeNumber('--max-instances', 1)),
    );
}

/**
 * How long the conductor waits for a Redis that does not answer before it stops the study
 * (resumable). Outages of a minute or two (a restart, a failover) are waited out; a Redis that is
 * gone does not leave a study waiting in silence for ever.
 */
export const DEFAULT_REDIS_TIMEOUT_MS = 300_000;

export interface ExecutionFlags {
  attempts?: number;
  rlimit?: number;
  throttle?: number;
  /** `--budget`: node-hours the study may use (0 = unlimited). */
  budget?: number;
  /** `--quarantine-min-failures`: failures before a host can be quarantined (0 = never). */
  quarantineMinFailures?: number;
  /** `--quarantine-ratio`: times the rest of the fleet's failure rate a host's must reach. */
  quarantineRatio?: number;
  localWorkers?: number;
  workerConcurrency?: number;
  window?: number;
  bundle?: number;
  cancelGrace?: number;
  /** `--redis-timeout`: how long Redis may stay unreachable before the study stops (0 = forever). */
  redisTimeout?: number;
  prefix?: string;
  workerArg?: string[];
  /** `--dashboard [port]`: serve the study view while the study runs. */
  dashboard?: number;
  /**
   * `--dashboard-exit` (true): the dashboard closes when the study ends; `--no-dashboard-exit`
   * (false): it stays up until Ctrl-C. @default stays up on a terminal, closes elsewhere
   */
  dashboardExit?: boolean;
}

/** Flags of `run` and `resume`: limits (as in Maestro) and how the study runs here. */
export function addExecutionOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-a, --attempts <n>', 'runs of a failing step before it is FAILED').argParser(
        wholeNumber('--attempts', 1),
      ),
    )
    .addOption(
      new Option(
        '-r, --rlimit <n>',
        'restarts after a timeout, for steps with a restart command (0 = unlimited)',
      ).argParser(wholeNumber('--rlimit')),
    )
    .addOption(
      new Option('-t, --throttle <n>', 'most steps queued or running at once (0 = unlimited)').argParser(
        wholeNumber('--throttle'),
      ),
    )
    .addOption(
      new Option(
        '--budget <node-hours>',
        'node-hours the study may use (nodes × run time, walltimes counted while steps run); it stops, resumable, before passing them (0 = unlimited)',
      ).argParser(nodeHoursArg),
    )
    .addOption(
      new Option(
        '--quarantine-min-failures <n>',
        'bad-node quarantine: failures on steps that succeed on other hosts before a host stops getting work (0 = never quarantine)',
      )
        .default(DEFAULT_QUARANTINE.minFailures)
        .argParser(wholeNumber('--quarantine-min-failures')),
    )
    .addOption(
      new Option(
        '--quarantine-ratio <x>',
        "bad-node quarantine: how many times the rest of the fleet's failure rate a host's must reach",
      )
        .default(DEFAULT_QUARANTINE.rateRatio)
        .argParser(ratioArg),
    )
    .addOption(new Option('-s, --sleeptime <seconds>', 'accepted for compatibility; maestro does not poll').hideHelp())
    .addOption(
      new Option(
        '--local-workers <n>',
        `maestro-worker processes started on this machine (default: none for a study of up to ${HOME_WORKER_MAX_INSTANCES} instances or one step at a time, whose steps run in this process; else as many as the study is wide; both at most the cores: ${cores()})`,
      ).argParser(wholeNumber('--local-workers')),
    )
    .addOption(
      // No default value: given at all, it asks for worker processes (wantsWorkerProcesses).
      new Option('--worker-concurrency <n>', 'steps each local worker runs at once (default: 1)').argParser(
        wholeNumber('--worker-concurrency', 1),
      ),
    )
    .addOption(
      new Option('--window <n>', 'most jobs waiting in Redis at once')
        .default(10_000)
        .argParser(wholeNumber('--window', 1)),
    )
    .addOption(
      new Option(
        '--bundle <n>',
        "most instances of a step with short runs sent to a worker as one job; 1 sends each alone, and no chains (a child that waits for its parent alone, in the parent's job)",
      )
        .default(16)
        .argParser(wholeNumber('--bundle', 1)),
    )
    .addOption(
      new Option(
        '--cancel-grace <duration>',
        'after a cancel, how long running steps get before they count as CANCELLED',
      )
        .default(30_000, '30s')
        .argParser(durationOption('--cancel-grace')),
    )
    .addOption(
      new Option(
        '--redis-timeout <duration>',
        'how long Redis may not answer before the study stops, resumable (0 = wait forever)',
      )
        .default(DEFAULT_REDIS_TIMEOUT_MS, '5m')
        .argParser(durationOption('--redis-timeout')),
    )
    .option('--prefix <prefix>', 'key prefix in a shared Redis', 'maestro')
    .addOption(
      new Option(
        '--dashboard [port]',
        'serve the study view and bull-board on 127.0.0.1 while the study runs (port 3000 unless given; 0 = any free one)',
      )
        .preset('3000')
        .argParser(wholeNumber('--dashboard')),
    )
    .option('--dashboard-exit', 'close the dashboard when the study ends (the default when not on a terminal)')
    .option(
      '--no-dashboard-exit',
      "keep serving the study's final state after it ends, until Ctrl-C (the default on a terminal)",
    )
    .addOption(
      new Option('--worker-arg <arg>', 'extra argument for local workers (repeatable)')
        .argParser(collect)
        .default([])
        .hideHelp(),
    );
}

/** The quarantine thresholds of `run` and `resume`: 0 min failures turns it off. */
export function quarantineSettings(o: ExecutionFlags): Partial<QuarantineSettings> {
  const minFailures = o.quarantineMinFailures ?? DEFAULT_QUARANTINE.minFailures;
  return {
    enabled: minFailures > 0,
    minFailures,
    rateRatio: o.quarantineRatio ?? DEFAULT_QUARANTINE.rateRatio,
    // Suspect failures are excused for a while longer than it takes to decide.
    maxExcused: Math.max(DEFAULT_QUARANTINE.maxExcused, minFailures),
  };
}

/** `--quarantine-ratio`: a number above 1 (at 1 or below, an ordinary host would qualify). */
function ratioArg(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 1) {
    throw new InvalidArgumentError(`--quarantine-ratio takes a number above 1, such as 4 or 2.5; got '${text}'`);
  }
  return n;
}

/** `--budget`: a number of node-hours, 0 or more. */
function nodeHoursArg(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`--budget takes node-hours, a number such as 500 or 2.5; got '${text}'`);
  }
  return n;
}
