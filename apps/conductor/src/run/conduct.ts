/**
 * Runs a study to its end in this process: Redis connections, the conductor, local workers,
 * status files, progress on the terminal, and an orderly shutdown whatever happens.
 */
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_QUEUE, type StudyStateName } from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import { Conductor, type ConductorLimits } from '../conductor/index.js';
import type { Dashboard, DashboardSettings } from '../dashboard/index.js';
import { Fleet, type AutoscaleConfig } from '../fleet/index.js';
import { LocalWorkers } from './local-workers.js';
import { makeLogger } from './log.js';
import { StepQueues } from '../queue/index.js';
import { redisSecrets, FleetStore, StudyStore } from '../redis/index.js';
import { connect, type OpenedRedis, metaDir, type StudyMeta } from '../study/index.js';
import { StatusFiles } from '../status/index.js';
import type { Terminal } from './terminal.js';

export interface ConductOptions {
  readonly meta: StudyMeta;
  readonly expanded: ExpandedStudy;
  readonly redis: OpenedRedis;
  readonly limits: Partial<ConductorLimits>;
  readonly window: number;
  /** Most instances per job (`--bundle`); 1 sends each alone. */
  readonly bundle: number;
  readonly localWorkers: number;
  readonly workerConcurrency: number;
  readonly workerArgs?: readonly string[];
  readonly cancelGraceMs: number;
  readonly terminal: Terminal | undefined;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Serve the dashboard while the study runs (`--dashboard`); it stops with the run, unless kept. */
  readonly dashboard?: Readonly<DashboardSettings> | undefined;
  /**
   * When the study reached a final state, its dashboard is handed here instead of closed (before
   * the study's Redis stops): the caller serves the final state on and closes it.
   */
  readonly keepDashboard?: ((dashboard: Dashboard) => Promise<void>) | undefined;
  /** Submit allocations of workers while work waits (--autoscale); released when the study ends. */
  readonly autoscale?: AutoscaleConfig | undefined;
}

/** Study state names -> `maestro run` exit codes, as the original (0 finished, 2 failed, 3 cancelled). */
export const EXIT_CODES: Record<StudyStateName, number> = { FINISHED: 0, RUNNING: 130, FAILURE: 2, CANCELLED: 3 };

export const DEFAULT_WINDOW = 10_000;
export const DEFAULT_BUNDLE = 16;
/** A bundle of short instances should take about this long (BundlePolicy.targetMs). */
const BUNDLE_TARGET_MS = 200;

export async function conduct(o: ConductOptions): Promise<StudyStateName> {
  const { meta, expanded } = o;
  const term = o.terminal;
  const { log, close: closeLog } = makeLogger({
    file: path.join(metaDir(meta.root), 'conductor.log'),
    console: term ? (line) => term.line(line) : undefined,
    consoleLevel: term?.interactive ? 'warn' : 'info',
    level: o.logLevel ?? 'info',
    base: { studyId: meta.id },
    secrets: redisSecrets(o.redis.target),
  });
  const redis = await connect(o.redis, 'durable');
  const reader = await connect(o.redis, 'durable');
  const store = new StudyStore(redis, reader, meta.prefix, meta.id);
  // The store's connection: a commit and the enqueue behind it reach Redis in that order.
  const queues = new StepQueues(redis, meta.prefix);
  const files = new StatusFiles(meta.root, meta.id, (err) => log.warn({ err }, 'could not write the status files'));
  const queueNames = new Set<string>([DEFAULT_QUEUE]);
  for (const s of expanded.steps) if (typeof s.run.task_queue === 'string') queueNames.add(s.run.task_queue);

  const conductor = new Conductor({
    expanded,
    studyId: meta.id,
    prefix: meta.prefix,
    store,
    queues,
    log,
    limits: o.limits,
    window: o.window,
    bundle: { maxSize: o.bundle, targetMs: BUNDLE_TARGET_MS },
    cancelGraceMs: o.cancelGraceMs,
    leaseTtlMs: 15_000,
    publicMeta: {
      id: meta.id,
      name: meta.name,
      description: meta.description,
      root: meta.root,
      createdAt: meta.createdAt,
      instanceCount: meta.instanceCount,
      steps: meta.steps,
      queues: [...queueNames],
      host: os.hostname(),
    },
    onProgress: term ? (p) => term.progress(p) : undefined,
    onChange: (c) => files.changed(c),
  });

  let disconnected = false;
  redis.on('close', () => (disconnected = true));
  redis.on('ready', () => {
    if (!disconnected) return;
    disconnected = false;
    log.warn('Redis connection is back');
    conductor.reconnected();
  });

  const workers =
    o.localWorkers > 0
      ? new LocalWorkers({
          count: o.localWorkers,
          concurrency: o.workerConcurrency,
          redisUrl: o.redis.target.url,
          passwordFile: o.redis.target.passwordFile,
          tlsCaFile: o.redis.target.tlsCaFile,
          prefix: meta.prefix,
          queues: [...queueNames],
          logDir: path.join(metaDir(meta.root), 'logs'),
          log,
          extraArgs: o.workerArgs,
        })
      : undefined;

  // The study matters more than its view: a dashboard that cannot listen is a warning, not a failure.
  let dashboard: Dashboard | undefined;
  if (o.dashboard) {
    // Loaded only when asked for: bull-board and its web server are most of the CLI's start-up.
    const { startDashboard } = await import('../dashboard/server.js');
    dashboard = await startDashboard({ settings: o.dashboard, redis: o.redis.target, study: meta, log }).catch(
      (err: unknown) => {
        log.warn({ err: (err as Error).message }, 'the dashboard did not start; the study runs without it');
        return undefined;
      },
    );
    if (dashboard) {
      log.debug({ url: dashboard.url }, 'dashboard listening');
      if (term) term.line(`Dashboard: ${dashboard.url}`);
    }
  }
  const fleet = new Fleet({
    conductor,
    store: new FleetStore(redis, meta.prefix),
    log,
    studyId: meta.id,
    autoscale: o.autoscale,
  });

  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      log.warn({ signal: sig }, `stopping; the study can be continued with: maestro resume ${meta.root}`);
      conductor.stop();
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let state: StudyStateName = 'RUNNING';
  try {
    workers?.start();
    await fleet.start();
    state = await conductor.run();
    await files.flush(conductor);
    if (state !== 'RUNNING') log.info({ state }, 'study ended');
    return state;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    term?.end();
    if (dashboard && o.keepDashboard && state !== 'RUNNING') await o.keepDashboard(dashboard);
    else await dashboard?.close();
    // Allocations started for this study end with it (or with this conductor, which alone manages them).
    await fleet.close();
    await workers?.stop();
    await queues.close().catch(() => undefined);
    for (const c of [redis, reader]) c.disconnect();
    await o.redis.embedded?.stop();
    await closeLog();
  }
}
