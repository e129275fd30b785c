/**
 * Runs a study to its end in this process: Redis connections, the conductor, local workers,
 * status files, progress on the terminal, and an orderly shutdown whatever happens.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StudyStateName } from '@maestro/protocol';
import type { ExpandedStudy } from '@maestro/spec';
import { Conductor, retrySettingsOf, type ConductorLimits, type QuarantineSettings } from '../conductor/index.js';
import type { Dashboard, DashboardSettings } from '../dashboard/index.js';
import { Fleet, type AutoscaleConfig } from '../fleet/index.js';
import type { Logger } from 'pino';
import type { HomeWorker } from './home-worker.js';
import type { StudyWorkers } from './study-workers.js';
import { ownHeapGrowthWhileRunning } from './heap-growth.js';
import { makeLogger } from './log.js';
import { RedisWatch } from './redis-watch.js';
import { StopSequence } from './stop-sequence.js';
// Not queue/index.js: its BoardQueues would load bull-board (and a second BullMQ) into every run.
import { StepQueues } from '../queue/step-queues.js';
import { redactUrl } from '@maestro/secrets';
import { describeRedisError, redisSecrets, FleetStore, StudyStore, type Redis } from '../redis/index.js';
import { connect, type OpenedRedis, metaDir, type StudyMeta } from '../study/index.js';
import { studyQueues } from '../study/shape.js';
import { StatusFiles } from '../status/index.js';
import type { Terminal } from './terminal.js';

export interface ConductOptions {
  readonly meta: StudyMeta;
  readonly expanded: ExpandedStudy;
  /** Exit codes 100-106 are Merlin's requests (usesMerlinReturnCodes of the spec). */
  readonly merlinReturnCodes?: boolean | undefined;
  readonly redis: OpenedRedis;
  readonly limits: Partial<ConductorLimits>;
  readonly window: number;
  /** Most instances per job (`--bundle`); 1 sends each alone. */
  readonly bundle: number;
  /**
   * The study's local worker processes, started by the command before this module loaded
   * (startEarlyWorkers, startStudyWorkers); from here on conduct stops them.
   */
  readonly workers: StudyWorkers | undefined;
  /** Run steps in this process instead (HomeWorker), this many at once; not with `workers`. */
  readonly homeWorker?: { readonly concurrency: number } | undefined;
  readonly cancelGraceMs: number;
  /** Bad-node quarantine thresholds (`--quarantine-*`). */
  readonly quarantine?: Partial<QuarantineSettings> | undefined;
  /** How long Redis may not answer before the study stops (`--redis-timeout`); 0 waits for ever. */
  readonly redisTimeoutMs: number;
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
  readonly autoscale?: readonly AutoscaleConfig[] | undefined;
  /** Called once the study is in Redis (the conductor's first commit): from then on it is resumable. */
  readonly onStarted?: () => void;
}

/** Study state names -> `maestro run` exit codes, as the original (0 finished, 2 failed, 3 cancelled). */
export const EXIT_CODES: Record<StudyStateName, number> = { FINISHED: 0, RUNNING: 130, FAILURE: 2, CANCELLED: 3 };

export const DEFAULT_WINDOW = 10_000;
export const DEFAULT_BUNDLE = 16;
/** A bundle of short instances should take about this long (BundlePolicy.targetMs). */
const BUNDLE_TARGET_MS = 200;
/** How long closing one part (dashboard, fleet, queues) may take before it is left behind. */
const CLOSE_WAIT_MS = 5_000;
/** The same once Redis is lost: what still waits for it will not get an answer. */
const LOST_CLOSE_WAIT_MS = 1_000;

/**
 * The study stopped before its end because its Redis was lost or refused writes; the message says
 * how, and that the study can be continued.
 */
export class StudyStoppedError extends Error {
  override readonly name = 'StudyStoppedError';
}

export async function conduct(o: ConductOptions): Promise<StudyStateName> {
  const { meta } = o;
  const term = o.terminal;
  const {
    log,
    fileLog,
    close: closeLog,
  } = makeLogger({
    file: path.join(metaDir(meta.root), 'conductor.log'),
    console: term ? (line) => term.line(line) : undefined,
    consoleLevel: term?.interactive ? 'warn' : 'info',
    level: o.logLevel ?? 'info',
    base: { studyId: meta.id },
    secrets: redisSecrets(o.redis.target),
  });
  // Until the conductor runs, a signal stops the start (the default: exit) and the finally below
  // does not run; the embedded Redis then dies with this process (its parent-death signal).
  let parts: StudyParts | undefined;
  let state: StudyStateName | undefined;
  const restoreHeapGrowth = ownHeapGrowthWhileRunning();
  try {
    parts = await makeParts(o, log);
    state = await runStudy(o, parts, log);
    return state;
  } catch (err) {
    // Redis lost or refusing writes once the conductor ran: one sentence, and a resumable study.
    const stopped = parts && (parts.stop.lostReason ?? describeRedisError(err, whereIs(o.redis)));
    if (!parts || stopped === undefined) throw err;
    const details = parts.stop.lostDetails;
    fileLog.error({ reason: stopped, details, err }, 'the study stopped: its Redis was lost');
    const after = details ? `\n${details}` : '';
    if (!parts.started()) throw new StudyStoppedError(`${stopped}; the study did not start${after}`);
    await markStopped(meta.root, stopped);
    throw new StudyStoppedError(
      `${stopped}; the study stopped, and can be continued with: maestro resume ${meta.root}${after}`,
    );
  } finally {
    term?.end();
    // Workers started for a study whose parts never came together: gone before its Redis.
    if (!parts) await o.workers?.stop();
    if (parts) await closeParts(parts, state === undefined || state === 'RUNNING' ? undefined : o.keepDashboard);
    // Only the process that started the study's Redis stops it, last: after its workers handed
    // back and the conductor committed.
    await o.redis.embedded?.stop();
    await closeLog();
    restoreHeapGrowth();
  }
}

/** Everything a running study is made of, closed in reverse order by closeParts. */
interface StudyParts {
  readonly redis: Redis;
  readonly reader: Redis;
  readonly queues: StepQueues;
  readonly files: StatusFiles;
  readonly conductor: Conductor;
  readonly workers: StudyWorkers | undefined;
  /** The worker in this process, when it is the study's (then also `workers`). */
  readonly home: HomeWorker | undefined;
  readonly fleet: Fleet;
  readonly dashboard: Dashboard | undefined;
  readonly stop: StopSequence;
  readonly watch: RedisWatch;
  readonly offSignals: () => void;
  /** True once the conductor wrote the study (its first commit): its status files are its own. */
  readonly started: () => boolean;
}

async function makeParts(o: ConductOptions, log: Logger): Promise<StudyParts> {
  const { meta, expanded } = o;
  const term = o.terminal;
  const redis = await connect(o.redis, 'durable');
  const reader = await connect(o.redis, 'durable').catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });
  let stop: StopSequence | undefined;
  // The store's connection: a commit and the enqueue behind it reach Redis in that order.
  const store = new WatchedStudyStore(redis, reader, meta.prefix, meta.id, (err) => {
    // The conductor only logs a lease renewal that failed; a refused write must stop the study.
    const refused = describeRedisError(err, whereIs(o.redis));
    if (refused) stop?.lost(refused);
  });
  const queues = new StepQueues(redis, meta.prefix);
  const files = new StatusFiles(meta.root, meta.id, (err) => log.warn({ err }, 'could not write the status files'));
  const queueNames = studyQueues(expanded.steps);

  let started = false;
  const conductor = new Conductor({
    expanded,
    studyId: meta.id,
    prefix: meta.prefix,
    store,
    queues,
    log,
    limits: o.limits,
    merlinRetries: o.merlinReturnCodes ? retrySettingsOf(expanded) : undefined,
    window: o.window,
    bundle: { maxSize: o.bundle, targetMs: BUNDLE_TARGET_MS },
    cancelGraceMs: o.cancelGraceMs,
    quarantine: o.quarantine,
    leaseTtlMs: 15_000,
    publicMeta: {
      id: meta.id,
      name: meta.name,
      description: meta.description,
      root: meta.root,
      createdAt: meta.createdAt,
      instanceCount: meta.instanceCount,
      steps: meta.steps,
      queues: queueNames,
      host: os.hostname(),
    },
    onProgress: (p) => {
      if (!started) {
        started = true;
        o.onStarted?.();
      }
      term?.progress(p);
    },
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

  const home = o.homeWorker && (await startHomeWorker(o, o.homeWorker.concurrency));
  const workers = o.workers ?? home;
  workers?.useLog(log);
  stop = new StopSequence({
    conductor,
    workers,
    embedded: o.redis.embedded,
    connections: [redis, reader],
    log,
    graceMs: o.cancelGraceMs,
  });
  const sequence = stop;
  const watch = new RedisWatch({
    redis,
    target: o.redis.target,
    embedded: o.redis.embedded,
    where: whereIs(o.redis),
    timeoutMs: o.redisTimeoutMs,
    log,
    onLost: (reason, details) => sequence.lost(reason, details),
  });
  const offSignals = onInterrupt((signal) => sequence.interrupt(signal));
  const dashboard = await startDashboardIfAsked(o, log);
  const fleet = new Fleet({
    conductor,
    store: new FleetStore(redis, meta.prefix),
    log,
    studyId: meta.id,
    autoscale: o.autoscale,
  });
  return {
    ...{ redis, reader, queues, files, conductor, workers, home, fleet, dashboard, stop, watch, offSignals },
    started: () => started,
  };
}

/** The worker inside this process, starting (it connects while the conductor starts). */
async function startHomeWorker(o: ConductOptions, concurrency: number): Promise<HomeWorker> {
  // Loaded only when used: a study on worker processes or allocations never needs it.
  const { HomeWorker } = await import('./home-worker.js');
  return new HomeWorker({
    redis: o.redis.target,
    prefix: o.meta.prefix,
    queues: studyQueues(o.expanded.steps),
    concurrency,
    logDir: path.join(metaDir(o.meta.root), 'logs'),
    secrets: redisSecrets(o.redis.target),
  });
}

/** Calls `handler` on SIGINT and SIGTERM (Ctrl-C, `timeout`, `kill`) until the returned function is called. */
function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Runs the study to its end, or until something stops it; returns its state (RUNNING: stopped). */
async function runStudy(o: ConductOptions, p: StudyParts, log: Logger): Promise<StudyStateName> {
  p.watch.start();
  await p.fleet.start();
  let state: StudyStateName;
  try {
    const running = p.conductor.run();
    // Abandoned if Redis is lost: it may settle later, or never.
    running.catch(() => undefined);
    state = await Promise.race([
      running,
      p.stop.whenLost.then((reason) => Promise.reject(new Error(reason))),
      // Started beside the conductor: a worker that cannot start stops the study, resumable.
      ...(p.home ? [homeFailure(p.home, p.conductor)] : []),
    ]);
  } finally {
    p.stop.settled();
    p.watch.close();
    // What the conductor knew is on disk, however it ended (a conductor refused by another's
    // lease never started, and must not overwrite that one's files).
    if (p.started())
      await p.files.flush(p.conductor).catch((err: unknown) => log.warn({ err }, 'could not write the status files'));
  }
  if (p.stop.lostReason !== undefined) throw new Error(p.stop.lostReason);
  if (state !== 'RUNNING') log.info({ state }, 'study ended');
  else if (p.stop.reason !== undefined) await markStopped(o.meta.root, p.stop.reason);
  else if (p.conductor.budgetStop !== undefined) await markStopped(o.meta.root, p.conductor.budgetStop);
  return state;
}

/** Rejects with the home worker's error if it cannot start (and stops the conductor); else never settles. */
function homeFailure(home: HomeWorker, conductor: Conductor): Promise<never> {
  return home.ready.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => {
      conductor.stop();
      throw err;
    },
  );
}

/** `keepDashboard`: given once the study ended, the dashboard goes there instead of closing. */
async function closeParts(p: StudyParts, keepDashboard?: (dashboard: Dashboard) => Promise<void>): Promise<void> {
  p.offSignals();
  p.watch.close();
  // Each bounded: with Redis lost, what waits for it may never settle.
  const waitMs = p.stop.lostReason === undefined ? CLOSE_WAIT_MS : LOST_CLOSE_WAIT_MS;
  if (p.dashboard && keepDashboard) await keepDashboard(p.dashboard);
  else await bounded(p.dashboard?.close(), waitMs);
  // Allocations started for this study end with it (or with this conductor, which alone manages them).
  await bounded(p.fleet.close(), waitMs);
  await p.workers?.stop();
  await bounded(p.queues.close(), waitMs);
  for (const c of [p.redis, p.reader]) c.disconnect();
}

/** Waits for `promise` at most `ms`, ignoring its failure. */
async function bounded(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise?.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The study matters more than its view: a dashboard that cannot listen is a warning, not a failure. */
async function startDashboardIfAsked(o: ConductOptions, log: Logger): Promise<Dashboard | undefined> {
  if (!o.dashboard) return undefined;
  // Loaded only when asked for: bull-board and its web server are most of the CLI's start-up.
  const { startDashboard } = await import('../dashboard/server.js');
  const dashboard = await startDashboard({ settings: o.dashboard, redis: o.redis.target, study: o.meta, log }).catch(
    (err: unknown) => {
      log.warn({ err: (err as Error).message }, 'the dashboard did not start; the study runs without it');
      return undefined;
    },
  );
  if (dashboard) {
    log.debug({ url: dashboard.url }, 'dashboard listening');
    o.terminal?.line(`Dashboard: ${dashboard.url}`);
  }
  return dashboard;
}

/** How messages name the study's Redis (never with its password). */
function whereIs(redis: OpenedRedis): string {
  return redis.embedded || redis.target.url.startsWith('redis+unix:')
    ? "the study's redis-server"
    : `Redis at ${redactUrl(redis.target.url)}`;
}

/**
 * The study stopped before its end and can be resumed: meta/status.json says STOPPED, and why,
 * instead of the RUNNING the conductor last wrote. Best effort: the study's state is in Redis.
 */
async function markStopped(root: string, reason: string): Promise<void> {
  const file = path.join(metaDir(root), 'status.json');
  try {
    const status = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    if (status['state'] !== 'RUNNING') return;
    Object.assign(status, { state: 'STOPPED', stoppedBecause: reason, updatedAt: new Date().toISOString() });
    await writeFile(`${file}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  } catch {
    // no status yet (stopped before its first write), or the disk refuses: nothing to correct
  }
}

/**
 * The study's store, seeing the errors of the lease renewals that the conductor only logs (it
 * retries them): under MISCONF or OOM they are the first sign that Redis refuses every write.
 */
class WatchedStudyStore extends StudyStore {
  constructor(
    redis: Redis,
    reader: Redis,
    prefix: string,
    studyId: string,
    private readonly onError: (err: unknown) => void,
  ) {
    super(redis, reader, prefix, studyId);
  }

  override async renewLease(ttlMs: number): Promise<boolean> {
    try {
      return await super.renewLease(ttlMs);
    } catch (err) {
      this.onError(err);
      throw err;
    }
  }
}
