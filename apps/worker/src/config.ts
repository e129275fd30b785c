/**
 * The worker's configuration: one zod schema owns every default and check. `loadConfig` turns
 * command-line options and the environment into a frozen, resolved object and reports every
 * problem at once. Only main.ts calls it; embedders (tests, a local-workers launcher) call it too
 * and pass the result to `startWorker`.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { z } from 'zod';
import {
  canonicalAllocationId,
  DEFAULT_MAX_RUNS_PER_ATTEMPT,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  isValidQueueName,
  keyPrefixFor,
  parseDurationMs,
  parseRedisUrl,
  SCHEDULERS,
  WORKER_HEARTBEAT_MS,
} from '@maestro/protocol';
import { ConfigError, describeSystemError } from './errors.js';
import { urlSecrets } from '@maestro/secrets';

/** Options as the command line gives them (all text); every field is optional. */
export interface WorkerOptions {
  redis?: string;
  redisPasswordFile?: string;
  sentinelPasswordFile?: string;
  tlsCaFile?: string;
  prefix?: string;
  queues?: string;
  concurrency?: string | number;
  idleTimeout?: string;
  shutdownGrace?: string;
  name?: string;
  simulate?: boolean;
  logLevel?: string;
  cores?: string | number;
  gpus?: string;
  preemptMargin?: string;
}

/** Environment variables the worker reads. */
export type WorkerEnv = Record<string, string | undefined>;

/**
 * What the scheduler said when asked at start (main.ts asks Flux, allocation.ts): used where the
 * environment says nothing. Inside a `flux batch` job FLUX_JOB_ID is not set (and a worker's own
 * job, if it runs as one, is not the allocation), and no variable gives the node's cores.
 */
export interface AllocationFacts {
  /** `flux getattr jobid`: the allocation the worker's instance runs as. */
  allocationId?: string | undefined;
  /** Cores and GPUs of this node in the allocation (`flux resource list` of the worker's rank). */
  cores?: number | undefined;
  gpus?: number | undefined;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const Duration = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s, 5m or 1h, got '${text}'` });
    return z.NEVER;
  }
  return ms;
});

export const WorkerConfigSchema = z.object({
  /**
   * Redis of the deployment: `redis://[user[:password]@]host[:port][/db]`, `rediss://` for TLS,
   * `redis+unix:///path/to/redis.sock` (the private server of a study run without --redis),
   * `redis+sentinel://[user:pw@]host:port[,host:port...]/MASTER_NAME` (a primary found through its
   * sentinels) or `redis+cluster://[user:pw@]host:port[,host:port...]` (seed nodes of a cluster).
   * Shared with the conductor. A password here is visible in `ps`: prefer `redisPassword`.
   */
  redisUrl: z.string({ error: 'missing: give --redis URL or set MAESTRO_REDIS_URL' }).superRefine((url, ctx) => {
    try {
      parseRedisUrl(url);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  }),
  /** Password read from `--redis-password-file`; overrides one in the URL. */
  redisPassword: z.string().optional(),
  /** The sentinels' own password, read from `--sentinel-password-file`; overrides `?sentinelPassword=`. */
  sentinelPassword: z.string().optional(),
  /** PEM certificate authority for `rediss://` (from `--tls-ca-file`). @default the system's CAs */
  tlsCa: z.string().optional(),
  /** Key prefix of the deployment (maestro's keys and BullMQ's). @default 'maestro' */
  prefix: z
    .string()
    .regex(/^[^:\s]+$/, 'must not be empty or contain ":" or spaces')
    .default(DEFAULT_PREFIX),
  /** Queues to take steps from. @default ['steps'] */
  queues: z
    .array(z.string().refine(isValidQueueName, 'queue names are letters, digits, ".", "_" and "-"'))
    .min(1, 'name at least one queue')
    .default([DEFAULT_QUEUE]),
  /**
   * Cores the worker hands out to steps: a step takes `ceil(procs / nodes) × cores per task` of
   * them (libs/protocol resources.ts). @default the allocation's CPUs on this node
   * (SLURM_CPUS_ON_NODE, or Flux's `flux resource list` of the node) divided among its workers
   * (MAESTRO_WORKERS_PER_NODE), else the machine's
   */
  cores: z.coerce
    .number({ error: 'must be a positive integer' })
    .int('must be a positive integer')
    .positive('must be a positive integer'),
  /**
   * GPU device ids the worker hands out; a step asking for GPUs gets its own in
   * CUDA_VISIBLE_DEVICES. @default CUDA_VISIBLE_DEVICES of the worker, else SLURM_GPUS_ON_NODE
   * (or the node's GPUs in Flux) devices numbered from 0, else none
   */
  gpuIds: z.array(z.string().regex(/^[\w.:-]+$/, 'GPU ids are letters, digits, ".", ":", "_" and "-"')).default([]),
  /**
   * Steps run at once at most, over all its queues. Given above the cores without `cores`, it
   * raises the cores handed out to match (oversubscription, for steps that mostly wait).
   * @default `cores`
   */
  concurrency: z.coerce
    .number({ error: 'must be a positive integer' })
    .int('must be a positive integer')
    .positive('must be a positive integer'),
  /** Exit (0) after this long with no step running or arriving; undefined = never. */
  idleTimeoutMs: Duration.pipe(z.number().positive('must be longer than 0')).optional(),
  /** After SIGTERM/SIGINT, how long running steps may go on before they are killed. @default 30 s */
  shutdownGraceMs: Duration.default(30_000),
  /** Host name, as reported in results and the worker record. */
  host: z
    .string()
    .min(1)
    .default(() => hostname()),
  /** Worker name, unique in the deployment. @default `<host>.<pid>` */
  name: z
    .string()
    .regex(/^\S+$/, 'must not be empty or contain spaces')
    .default(() => `${hostname()}.${process.pid}`),
  /** Load-test mode: claim and report each step as succeeded without running anything. */
  simulate: z.boolean().default(false),
  /**
   * With `simulate`: how long each simulated step "runs" before it is reported, so that a
   * simulated fleet holds steps in flight (their locks renewed, their starts announced) as a real
   * one does. Set by embedders (the fleet benchmark), not on the command line. @default 0
   * @internal
   */
  simulateStepMs: z.number().int().nonnegative().default(0),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /**
   * The allocation the worker runs in: MAESTRO_ALLOCATION_ID, else what Flux says
   * (`flux getattr jobid`), else SLURM_JOB_ID / FLUX_JOB_ID. Flux ids in their `ƒ` form
   * (canonicalAllocationId), whatever the locale printed.
   */
  allocationId: z.string().min(1).optional(),
  /** Scheduler of that allocation: how `$(LAUNCHER)` expands and where the time left comes from. */
  scheduler: z.enum(SCHEDULERS).default('local'),
  /** Nodes of the allocation (SLURM_JOB_NUM_NODES, MAESTRO_NODES). @default 1 */
  nodes: z.coerce.number().int().positive().default(1),
  /** The scheduler's name for this node (SLURMD_NODENAME), to keep `$(LAUNCHER)` steps on it. */
  node: z.string().min(1).optional(),
  /**
   * End of the allocation (epoch ms) when no scheduler can tell it: a local allocation started by
   * `maestro workers launch --scheduler local --walltime T` (MAESTRO_ALLOCATION_ENDS_AT).
   */
  allocationEndsAtMs: z.number().int().positive().optional(),
  /**
   * Before its allocation ends, the worker stops starting steps whose walltime would not fit and,
   * this long before the end, stops (preempts) the steps still running, hands them back and
   * exits. Never more than half of the time left when the worker starts. @default 60 s
   */
  preemptMarginMs: Duration.default(60_000),
  /** How often the time left of the allocation is asked again (it can be extended). @default 60 s */
  timeLeftRefreshMs: z.number().int().positive().default(60_000),
  /**
   * A step tells the study it started only once it has run this long (its result says when it
   * started anyway): a study of short steps writes one event per step instead of two, and its
   * conductor wakes once per step. 0: at once, with the claim. @default 100 ms
   */
  announceDelayMs: z.number().int().nonnegative().default(100),
  /** After a step that can never run here is handed back, it waits this long before anyone takes it. @default 3 s */
  handBackDelayMs: z.number().int().positive().default(3_000),
  /**
   * BullMQ lock of a running step, renewed every half of it. A worker that dies or freezes loses
   * its steps after about lockDurationMs + 2 * stalledIntervalMs. @default 10 s
   */
  lockDurationMs: z.number().int().positive().default(10_000),
  /** How often the worker looks for steps whose worker died. @default 5 s */
  stalledIntervalMs: z.number().int().positive().default(5_000),
  /** Worker record refresh period. @default WORKER_HEARTBEAT_MS */
  heartbeatMs: z.number().int().positive().default(WORKER_HEARTBEAT_MS),
  /** Runs of one attempt (re-deliveries after worker deaths) before the fence fails it. */
  maxRunsPerAttempt: z.number().int().positive().default(DEFAULT_MAX_RUNS_PER_ATTEMPT),
  /** After SIGTERM to a step's process group, SIGKILL follows this much later. @default 5 s */
  killGraceMs: z.number().int().nonnegative().default(5_000),
  /**
   * How steps are started: `compiled` (dist/maestro-launcher, an error where it does not run),
   * `script` (scripts/launcher.sh), or `auto`, the compiled one where it runs. @default auto
   */
  launcher: z
    .enum(['auto', 'compiled', 'script'], {
      error: (i) => `must be auto, compiled or script, got '${String(i.input)}'`,
    })
    .default('auto'),
});

/** Resolved configuration. */
export type WorkerConfig = z.output<typeof WorkerConfigSchema>;
/** What may be given to {@link WorkerConfigSchema}; everything but redisUrl has a default. */
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

/** The flag or variable that sets each field, for messages. */
const SOURCE: Partial<Record<keyof WorkerConfig, string>> = {
  redisUrl: '--redis',
  redisPassword: '--redis-password-file',
  sentinelPassword: '--sentinel-password-file',
  tlsCa: '--tls-ca-file',
  prefix: '--prefix',
  queues: '--queues',
  concurrency: '--concurrency',
  idleTimeoutMs: '--idle-timeout',
  shutdownGraceMs: '--shutdown-grace',
  name: '--name',
  logLevel: '--log-level',
  cores: '--cores',
  gpuIds: '--gpus',
  preemptMarginMs: '--preempt-margin',
  nodes: 'MAESTRO_NODES',
  allocationEndsAtMs: 'MAESTRO_ALLOCATION_ENDS_AT',
  launcher: 'MAESTRO_LAUNCHER',
};

/**
 * Options and environment -> frozen configuration. Reads the password and CA files.
 * Throws a ConfigError listing every problem.
 */
export function loadConfig(
  options: WorkerOptions,
  env: WorkerEnv,
  facts: AllocationFacts = {},
): Readonly<WorkerConfig> {
  const problems: string[] = [];
  const readText = (flag: string, file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`${flag}: cannot read ${file}: ${describeSystemError(err)}`);
      return undefined;
    }
  };

  const passwordFile = options.redisPasswordFile ?? env['MAESTRO_REDIS_PASSWORD_FILE'];
  let redisPassword = readText('--redis-password-file', passwordFile)?.replace(/\r?\n$/, '');
  if (redisPassword === '') {
    problems.push(`--redis-password-file: ${passwordFile} is empty`);
    redisPassword = undefined;
  }
  const sentinelFile = options.sentinelPasswordFile ?? (env['MAESTRO_SENTINEL_PASSWORD_FILE'] || undefined);
  const sentinelPassword = readText('--sentinel-password-file', sentinelFile)?.replace(/\r?\n$/, '') || undefined;
  const tlsCaFile = options.tlsCaFile ?? (env['MAESTRO_REDIS_TLS_CA_FILE'] || undefined);
  const tlsCa = readText('--tls-ca-file', tlsCaFile);
  const opt = (value: string | number | undefined, name: string): string | number | undefined =>
    value ?? (env[name] || undefined);
  const allocation = detectAllocation(env, facts);
  const explicitCores = opt(options.cores, 'MAESTRO_CORES');
  const explicitConcurrency = opt(options.concurrency, 'MAESTRO_CONCURRENCY');
  // A --concurrency above the cores, without --cores, asks to oversubscribe them (steps that
  // mostly wait): each one-core step then gets a slot.
  const cores =
    explicitCores ??
    (explicitConcurrency !== undefined && Number(explicitConcurrency) > defaultCores(env, facts)
      ? explicitConcurrency
      : defaultCores(env, facts));
  const gpus = opt(options.gpus, 'MAESTRO_GPUS');
  const endsAt = env['MAESTRO_ALLOCATION_ENDS_AT'] || undefined;

  const input: Record<string, unknown> = {
    redisUrl: options.redis ?? env['MAESTRO_REDIS_URL'],
    redisPassword,
    sentinelPassword,
    tlsCa,
    prefix: opt(options.prefix, 'MAESTRO_PREFIX'),
    queues: ((q) => (q === undefined ? undefined : splitList(String(q))))(opt(options.queues, 'MAESTRO_QUEUES')),
    cores,
    gpuIds: gpus === undefined ? defaultGpus(env, facts) : gpuList(String(gpus)),
    concurrency: explicitConcurrency ?? cores,
    idleTimeoutMs: opt(options.idleTimeout, 'MAESTRO_IDLE_TIMEOUT'),
    shutdownGraceMs: opt(options.shutdownGrace, 'MAESTRO_SHUTDOWN_GRACE'),
    preemptMarginMs: opt(options.preemptMargin, 'MAESTRO_PREEMPT_MARGIN'),
    name: options.name ?? (allocation['host'] ? `${String(allocation['host'])}.${process.pid}` : undefined),
    simulate: options.simulate,
    logLevel: options.logLevel ?? env['MAESTRO_LOG_LEVEL'],
    ...allocation,
    allocationEndsAtMs: endsAt === undefined ? undefined : Number(endsAt),
    launcher: env['MAESTRO_LAUNCHER'] || undefined,
  };
  const parsed = WorkerConfigSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [field, ...rest] = issue.path.map(String);
      const where = SOURCE[field as keyof WorkerConfig] ?? field ?? 'options';
      problems.push(`${where}${rest.length ? `[${rest.join('.')}]` : ''}: ${issue.message}`);
    }
  }
  const address = parsed.success ? parseRedisUrl(parsed.data.redisUrl) : undefined;
  if (address && tlsCaFile !== undefined && !('tls' in address && address.tls)) {
    problems.push('--tls-ca-file: only used with a rediss:// URL');
  }
  if (address && sentinelFile !== undefined && address.kind !== 'sentinel') {
    problems.push('--sentinel-password-file: only used with a redis+sentinel:// URL');
  }
  if (problems.length > 0 || !parsed.success || !address) throw new ConfigError(problems);
  return Object.freeze({
    ...parsed.data,
    // On a cluster every key carries the prefix as one hash tag (libs/protocol redis-url.ts).
    prefix: keyPrefixFor(parsed.data.prefix, address.kind),
    queues: Object.freeze([...parsed.data.queues]) as string[],
  });
}

/**
 * Warnings about options that work but are unsafe: a password in `--redis` is visible to every
 * user of the machine through `ps` (batch scripts should use a password file).
 */
export function configWarnings(options: WorkerOptions): string[] {
  const warnings: string[] = [];
  if (options.redis !== undefined && urlSecrets(options.redis).length > 0) {
    warnings.push(
      'the Redis password given in --redis is visible to other users in `ps` while the worker starts; use --redis-password-file FILE or MAESTRO_REDIS_URL',
    );
  }
  return warnings;
}

/** The scheduler the worker runs under, as the environment says it (`local` when none). */
export function detectScheduler(env: WorkerEnv): string | undefined {
  return env['MAESTRO_SCHEDULER'] || (env['SLURM_JOB_ID'] ? 'slurm' : env['FLUX_JOB_ID'] ? 'flux' : undefined);
}

/**
 * The allocation the worker runs in. The batch scripts of `maestro workers launch` say it with
 * MAESTRO_SCHEDULER / MAESTRO_ALLOCATION_ID; a worker started by hand inside a Slurm or Flux job
 * finds it from what Flux said (a batch job's instance knows its id; FLUX_JOB_ID, if any, is the
 * worker's own job inside it) or from the scheduler's variables.
 */
function detectAllocation(env: WorkerEnv, facts: AllocationFacts): Record<string, unknown> {
  const slurm = env['SLURM_JOB_ID'] || undefined;
  const flux = facts.allocationId || env['FLUX_JOB_ID'] || undefined;
  const scheduler = detectScheduler(env);
  const id = env['MAESTRO_ALLOCATION_ID'] || (scheduler === 'flux' ? flux : scheduler === 'slurm' ? slurm : undefined);
  const known = (SCHEDULERS as readonly string[]).includes(scheduler ?? '')
    ? (scheduler as (typeof SCHEDULERS)[number])
    : undefined;
  return {
    scheduler,
    allocationId: id === undefined ? undefined : canonicalAllocationId(known, id),
    nodes: env['MAESTRO_NODES'] || (scheduler === 'slurm' ? env['SLURM_JOB_NUM_NODES'] || undefined : undefined),
    node: (scheduler === 'slurm' ? env['SLURMD_NODENAME'] : undefined) || undefined,
    host: (scheduler === 'slurm' ? env['SLURMD_NODENAME'] : undefined) || undefined,
  };
}

/** The allocation's CPUs on this node (Slurm's, Flux's) shared among its workers, or the machine's cores. */
function defaultCores(env: WorkerEnv, facts: AllocationFacts): number {
  const perNode = Number(env['MAESTRO_WORKERS_PER_NODE'] || 1);
  const cpus = Number(env['SLURM_CPUS_ON_NODE'] || facts.cores || NaN);
  const total = Number.isInteger(cpus) && cpus > 0 ? cpus : availableParallelism();
  return Math.max(1, Math.floor(total / (Number.isInteger(perNode) && perNode > 0 ? perNode : 1)));
}

/** `4` (devices 0..3) or `0,1,5` (these ids). */
function gpuList(text: string): string[] {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Array.from({ length: Number(t) }, (_, k) => String(k));
  return splitList(t);
}

function defaultGpus(env: WorkerEnv, facts: AllocationFacts): string[] {
  // Slurm says NoDevFiles, Flux -1, for a job without GPUs.
  const visible = env['CUDA_VISIBLE_DEVICES']?.trim();
  if (visible !== undefined && visible !== '' && visible !== 'NoDevFiles' && visible !== '-1')
    return splitList(visible);
  const count = Number(env['SLURM_GPUS_ON_NODE'] || facts.gpus || 0);
  return Number.isInteger(count) && count > 0 ? gpuList(String(count)) : [];
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
