/**
 * `maestro-worker`: pulls step instances from Redis and runs them, on a workstation or inside a
 * Slurm/Flux allocation. This file owns the process: arguments, signals and exit codes.
 *
 * Exit codes: 0 after a clean stop (signal or idle timeout), 2 for a configuration problem,
 * 1 for anything else.
 *
 * Signals: the first SIGTERM, SIGINT, SIGHUP, SIGALRM or SIGUSR1 drains (no new steps; running
 * steps get --shutdown-grace, then are killed and reported `interrupted`); a second one kills
 * running steps at once. Inside a Slurm or Flux allocation, the signals a scheduler sends as an
 * allocation ends (ALLOCATION_END_SIGNALS) mean just that, however many come: running steps are
 * stopped at once (SIGTERM to each process group, SIGKILL after the kill grace) and reported
 * `preempted`, and the worker exits. Only SIGINT then kills them at once.
 */
import { Command, Option } from 'commander';
import { askFluxFacts } from './allocation.js';
import {
  configWarnings,
  detectScheduler,
  LOG_LEVELS,
  loadConfig,
  type AllocationFacts,
  type WorkerConfig,
  type WorkerOptions,
} from './config.js';
import { ConfigError, coerceError } from './errors.js';
import { makeLogger } from './logger.js';
import { checkRedisAccess } from './redis.js';
import { scrub, secretForms, urlSecrets } from '@maestro/secrets';
import { readStdinSettings } from './stdin-settings.js';
import { startWorker, type WorkerHandle } from './worker.js';

const VERSION = '0.1.0';
/** After a second signal, exit even if Redis never answers again. */
const FORCED_EXIT_MS = 15_000;
/**
 * What schedulers send as an allocation ends. Slurm: SIGTERM (scancel, the time limit, its
 * preemption). Flux (flux-core 0.88): SIGALRM at the walltime, SIGTERM on `flux cancel`, SIGHUP
 * from an instance going down, SIGUSR1 from `flux batch --signal` (the usual early warning), in
 * any order, a few milliseconds apart, some of them twice; the batch script of deploy/flux hands
 * each one to the workers as SIGTERM. Node's own use of SIGUSR1 (the inspector) is given up here.
 */
const ALLOCATION_END_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGALRM', 'SIGHUP', 'SIGUSR1'];
const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', ...ALLOCATION_END_SIGNALS];

function buildProgram(): Command {
  return (
    new Command('maestro-worker')
      .description('Run maestro step instances taken from Redis queues.')
      .version(VERSION, '-v, --version')
      .option(
        '--redis <url>',
        'Redis URL: redis://[user[:password]@]host[:port][/db], rediss://..., redis+sentinel://[user:pw@]host:port[,host:port...]/MASTER_NAME or redis+cluster://[user:pw@]host:port[,host:port...] (default: $MAESTRO_REDIS_URL)',
      )
      .option(
        '--redis-password-file <file>',
        'read the Redis password from FILE (default: $MAESTRO_REDIS_PASSWORD_FILE)',
      )
      .option(
        '--sentinel-password-file <file>',
        "read the sentinels' own password from FILE, for a redis+sentinel:// URL (default: $MAESTRO_SENTINEL_PASSWORD_FILE)",
      )
      .option('--tls-ca-file <file>', 'certificate authority (PEM) for a rediss:// URL')
      // Defaults live in config.ts (one schema owns them all); the help text only names them.
      .option('--prefix <prefix>', 'key prefix of the deployment (default: maestro)')
      .option('--queues <names>', 'comma-separated queues to take steps from (default: steps)')
      .option('--concurrency <n>', 'steps run at once at most (default: --cores)')
      .option(
        '--cores <n>',
        "cores handed out to steps (default: the allocation's CPUs on this node, else the machine's)",
      )
      .option(
        '--gpus <n|ids>',
        'GPUs handed out to steps: a count or device ids 0,1,2 (default: $CUDA_VISIBLE_DEVICES)',
      )
      .option('--preempt-margin <duration>', "stop running steps this long before the allocation's end (default: 60s)")
      .option('--idle-timeout <duration>', 'exit after this long with no step running or arriving (30s, 5m, 1h)')
      .option('--shutdown-grace <duration>', 'after SIGTERM/SIGINT, how long running steps may finish (default: 30s)')
      .option('--name <name>', 'worker name (default: <host>.<pid>)')
      .option('--simulate', 'load test: report every step as succeeded without running anything')
      // maestro run's local workers: started before their Redis exists (stdin-settings.ts).
      .addOption(new Option('--settings-on-stdin').hideHelp())
      .addOption(
        new Option('--log-level <level>', 'log level (default: $MAESTRO_LOG_LEVEL or info)').choices(LOG_LEVELS),
      )
      .showHelpAfterError('(run with --help for usage)')
  );
}

async function main(): Promise<number> {
  const program = buildProgram();
  program.parse(process.argv);
  const options = program.opts<WorkerOptions & { settingsOnStdin?: boolean }>();
  if (options.settingsOnStdin) {
    const settings = await readStdinSettings(process.stdin);
    if (settings === undefined) return 0; // the conductor is gone, or needs no worker
    Object.assign(process.env, settings);
  }

  const asked = await askScheduler(options);
  let config: Readonly<WorkerConfig>;
  try {
    config = loadConfig(options, process.env, asked.facts);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`maestro-worker: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const secrets = [config.redisPassword, config.sentinelPassword, ...urlSecrets(config.redisUrl)];
  const log = (await makeLogger({ level: config.logLevel, secrets })).child({
    worker: config.name,
    host: config.host,
    ...(config.allocationId ? { allocationId: config.allocationId } : {}),
  });
  for (const warning of [...configWarnings(options), ...asked.warnings]) log.warn(warning);

  process.on('uncaughtException', (err) => {
    // The step launcher sees this process end and kills its steps.
    log.fatal({ err }, 'worker crashed');
    process.exit(1);
  });

  let worker: WorkerHandle | undefined;
  const inAllocation = config.scheduler !== 'local';
  let stopping = false;
  let ending = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!worker) {
      // Still connecting: nothing runs yet, so there is nothing to drain.
      log.info({ signal }, 'signal received before the worker started: exiting');
      process.exit(0);
    }
    if (inAllocation && ALLOCATION_END_SIGNALS.includes(signal)) {
      if (ending) {
        log.info({ signal }, 'signal received: the allocation is ending already');
        return;
      }
      stopping = ending = true;
      log.info({ signal }, 'signal received inside an allocation: it is ending; preempting running steps');
      void worker.close({ preempt: true });
      return;
    }
    if (!stopping) {
      stopping = true;
      log.info({ signal }, 'signal received: draining');
      void worker.close();
      return;
    }
    log.info({ signal }, 'signal received again: stopping now');
    void worker.close({ now: true });
    setTimeout(() => {
      log.error('worker did not stop in time; exiting');
      process.exit(1);
    }, FORCED_EXIT_MS).unref();
  };
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
  try {
    await checkRedisAccess(config);
  } catch (err) {
    // A wrong password or CA is a configuration problem: say so and exit 2.
    process.stderr.write(`maestro-worker: ${scrub(coerceError(err).message, secretForms(secrets))}\n`);
    return 2;
  }
  worker = await startWorker(config, log);
  await worker.stopped;
  return 0;
}

/**
 * What the environment cannot say and the scheduler can, asked before the configuration is
 * read: inside Flux, the allocation's id and this node's cores and GPUs (when not given).
 */
async function askScheduler(options: WorkerOptions): Promise<{ facts: AllocationFacts; warnings: string[] }> {
  const env = process.env;
  if (detectScheduler(env) !== 'flux') return { facts: {}, warnings: [] };
  return askFluxFacts({
    allocationId: !env['MAESTRO_ALLOCATION_ID'],
    resources:
      (options.cores ?? (env['MAESTRO_CORES'] || undefined)) === undefined ||
      (options.gpus ?? (env['MAESTRO_GPUS'] || undefined)) === undefined,
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Errors met before the logger exists may still carry the URL: never print the password.
    const e = coerceError(err);
    const forms = secretForms([
      ...urlSecrets(process.env['MAESTRO_REDIS_URL'] ?? ''),
      ...process.argv.flatMap((a) => urlSecrets(a)),
    ]);
    process.stderr.write(`maestro-worker: ${scrub(e.message, forms)}\n`);
    if (process.env['MAESTRO_DEBUG']) process.stderr.write(`${scrub(e.stack ?? '', forms)}\n`);
    process.exit(1);
  },
);
