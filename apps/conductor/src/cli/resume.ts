/** `maestro resume STUDY_DIR`: a new conductor picks up a study after a crash or a stop. */
import type { Writable } from 'node:stream';
import { startStudyWorkers } from '../run/local-workers.js';
import { studyQueues } from '../study/shape.js';
import { usesMerlinReturnCodes } from '@maestro/spec';
import { dashboardAfterRun, dashboardSettingsFor } from './dashboard.js';
import { reloadStudy } from '../study/reload.js';
import { metaDir } from '../study/meta.js';
import { formatCount } from '../status/count.js';
import { checkRedisAnswers, openStudy, redisForStudy } from '../study/session.js';
import { Terminal } from '../run/terminal.js';
import { autoscaleConfig, resolveAutoscale, type AutoscaleFlags } from './autoscale.js';
import { DEFAULT_REDIS_TIMEOUT_MS, localWorkerPlan, quarantineSettings, type ExecutionFlags } from './common.js';
import { redisChoice, type RedisFlags } from './redis-options.js';
import { printFinalStatus } from './status.js';

export type ResumeOptions = ExecutionFlags & RedisFlags & AutoscaleFlags;

export async function resumeCommand(
  dir: string,
  options: ResumeOptions,
  out: Writable,
  err: Writable,
): Promise<number> {
  const dashboard = dashboardSettingsFor(options);
  const meta = await openStudy(dir);
  if (meta.dryRun) throw new Error(`${meta.root} was a dry run; run the spec again without --dry`);
  const loaded = await reloadStudy(meta);
  if (loaded.expanded.instanceCount !== meta.instanceCount) {
    throw new Error(
      `the spec copy in ${meta.root} now expands to ${formatCount(loaded.expanded.instanceCount, 'instance')}, not ${meta.instanceCount}; it must not be edited`,
    );
  }
  const autoscale = await resolveAutoscale(options, loaded, meta.prefix, err);
  const redis = await redisForStudy(meta, redisChoice(options), true);
  // A shared Redis that cannot be reached is said now, not waited for in silence.
  if (meta.redis?.mode === 'external') await checkRedisAnswers(redis.target);
  err.write(`Resuming ${meta.name}: ${formatCount(meta.instanceCount, 'step instance')} in ${meta.root}\n`);
  const plan = localWorkerPlan(options, loaded.expanded, autoscale !== undefined);
  const workers = startStudyWorkers({
    count: plan.processes,
    concurrency: options.workerConcurrency ?? 1,
    redis: redis.target,
    prefix: meta.prefix,
    queues: studyQueues(loaded.expanded.steps),
    metaDir: metaDir(meta.root),
    extraArgs: options.workerArg,
  });
  // The conductor's modules (BullMQ and the rest) load while the workers start.
  const { conduct, DEFAULT_BUNDLE, DEFAULT_WINDOW, EXIT_CODES } = await import('../run/conduct.js').catch(
    async (error: unknown) => {
      await workers?.stop();
      throw error;
    },
  );
  const afterRun = dashboardAfterRun(options, err);
  const state = await conduct({
    meta,
    expanded: loaded.expanded,
    merlinReturnCodes: usesMerlinReturnCodes(loaded.study),
    redis,
    limits: { attempts: options.attempts, rlimit: options.rlimit, throttle: options.throttle, budget: options.budget },
    window: options.window ?? DEFAULT_WINDOW,
    bundle: options.bundle ?? DEFAULT_BUNDLE,
    workers,
    homeWorker: plan.home > 0 ? { concurrency: plan.home } : undefined,
    cancelGraceMs: options.cancelGrace ?? 30_000,
    quarantine: quarantineSettings(options),
    redisTimeoutMs: options.redisTimeout ?? DEFAULT_REDIS_TIMEOUT_MS,
    terminal: new Terminal(process.stderr),
    dashboard: dashboard && { ...dashboard, prefix: meta.prefix },
    keepDashboard: afterRun.keep,
    autoscale:
      autoscale && autoscaleConfig(autoscale, redis.target, { root: meta.root, id: meta.id, prefix: meta.prefix }, err),
  });
  await printFinalStatus(meta.root, state, out);
  await afterRun.serve();
  return EXIT_CODES[state];
}
