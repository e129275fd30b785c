/**
 * A running worker: takes StepJobs from its queues, claims each run through the fence, runs the
 * step's script in its workspace and reports the result through the fence.
 *
 * Per job (processJob): parse -> room -> for each instance it carries (one, or the members of a
 * bundle, runJob): claim -> workspace -> spawn -> wait -> report. Every path through it ends the
 * BullMQ job exactly once (completed, failed without retry for a malformed job, given back
 * untouched while draining, or put aside for another worker when it can never run here), and
 * every claimed run is reported unless its lock was lost (then another worker owns the attempt
 * and the fence would refuse it anyway).
 *
 * Room: a step takes cores and GPUs of the worker (libs/protocol resources.ts) and starts only if
 * its walltime ends before the worker must stop: its allocation's end minus the preemption
 * margin. A step that fits but finds the cores busy goes back to the head of the queue for
 * another worker, and this one fetches nothing more until it has room again. At that moment the worker preempts what still runs (reported `preempted`: run again
 * elsewhere, with its restart command if it has one) and exits, so its allocation is released.
 *
 * Kills (walltime, cancel, shutdown, lost lock) always hit the step's whole process group, and a
 * result is reported only once nothing of that group is left alive.
 */
import type { Logger } from 'pino';
import { makeAllocationClock } from './allocation.js';
import { AllocationEnd } from './allocation-end.js';
import type { WorkerConfig } from './config.js';
import { ControlChannel } from './control.js';
import { Heartbeat, makePresence } from './heartbeat.js';
import { IdleTimeout } from './idle-timeout.js';
import { JobRunner } from './job-runner.js';
import { Lifecycle, type WorkerState } from './lifecycle.js';
import { makeStepConsumer, type StepConsumer } from './queue/consumer.js';
import { makeFence } from './queue/fence.js';
import { closeRedis, makeRedis, type Redis } from './redis.js';
import { launcherKind, startLauncher, type StepLauncher } from './run-step.js';
import { redactUrl } from './secrets.js';
import { Results } from './results.js';
import { Slots } from './slots.js';
import { StepRunner } from './step-runner.js';
import { after, throttled, withTimeout } from './timers.js';

export type { WorkerState } from './lifecycle.js';

export interface WorkerHandle {
  readonly name: string;
  readonly state: WorkerState;
  /** Resolves once the worker has stopped: after close(), or after its idle timeout. */
  readonly stopped: Promise<void>;
  /**
   * Stops taking steps at once, lets running steps finish for `shutdownGraceMs`, then kills the
   * rest and reports them `interrupted`; closes BullMQ and Redis. With `now` (or when called
   * again) running steps are killed at once. With `drain`, running steps may finish however long
   * they take. With `preempt` (the allocation is ending), running steps are stopped now and
   * reported `preempted`, and so is a step that dies of a signal meanwhile (the scheduler's).
   * Resolves when stopped.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  now?: boolean;
  drain?: boolean;
  preempt?: boolean;
}

/** Repeated connection errors are logged at most this often. */
const CONNECTION_LOG_INTERVAL_MS = 30_000;
/** Cleanup writes on the way out wait at most this long for Redis. */
const EXIT_REDIS_TIMEOUT_MS = 5_000;

/** What an embedder may replace in a worker; main.ts passes none of it. */
export interface StartWorkerOptions {
  /**
   * Epoch ms now: every time the worker reads (cancel memory, walltime fit, idle timeout,
   * allocation end, result times) comes from here, so tests can drive it. Timers stay real.
   * @default Date.now
   */
  now?: () => number;
}

export async function startWorker(
  config: Readonly<WorkerConfig>,
  logger: Logger,
  options: StartWorkerOptions = {},
): Promise<WorkerHandle> {
  const now = options.now ?? Date.now;
  const log = withBindings(logger, {
    worker: config.name,
    host: config.host,
    ...(config.allocationId ? { allocationId: config.allocationId } : {}),
  });
  const who = { name: config.name, host: config.host, allocationId: config.allocationId };
  const lifecycle = new Lifecycle();
  const slots = new Slots(config.cores, config.gpuIds);

  const warnConnection = throttled(CONNECTION_LOG_INTERVAL_MS, now);
  const allocation = new AllocationEnd({
    clock: makeAllocationClock(config, now),
    preemptMarginMs: config.preemptMarginMs,
    refreshMs: config.timeLeftRefreshMs,
    now,
    log,
    warn: warnConnection,
    lifecycle,
    onStop: () => {
      const endsAt = allocation.endsAt;
      log.info(
        { steps: steps.size, endsAt: endsAt && new Date(endsAt).toISOString() },
        'allocation ending: preempting running steps and stopping',
      );
      void close({ preempt: true });
    },
  });

  const commands = makeRedis(config, 'commands');
  const subscriber = makeRedis(config, 'subscriber');
  for (const [redis, role] of [
    [commands, 'commands'],
    [subscriber, 'subscriber'],
  ] as const) {
    watchConnection(redis, role, log, warnConnection);
  }
  const fence = makeFence(commands, config.prefix, config.maxRunsPerAttempt);
  const presence = makePresence(commands, config.prefix, who);
  let launcher: StepLauncher;
  try {
    launcher = startLauncher(log, config.concurrency, launcherKind(config.launcher));
  } catch (err) {
    commands.disconnect();
    subscriber.disconnect();
    throw err;
  }

  const results = new Results(fence, config, log, now);

  /** A drain asked for by `maestro workers stop`, on the control channel or at a heartbeat. */
  const drain = (): void => {
    log.info({ steps: steps.size }, 'drain requested: finishing the running steps, then stopping');
    void close({ drain: true });
  };
  const control = new ControlChannel(config, log, now, { cancelRunning: (): number => steps.killCancelled(), drain });
  const steps = new StepRunner({ config, launcher, results, lifecycle, control, log, now });

  const heartbeat = new Heartbeat({
    presence,
    config,
    slots,
    running: steps,
    results,
    allocation,
    lifecycle,
    control,
    now,
    log,
    warn: warnConnection,
    onDrainRequested: drain,
  });
  const idle = new IdleTimeout({
    timeoutMs: config.idleTimeoutMs,
    now,
    lifecycle,
    running: steps,
    onIdle: () => {
      log.info({ idleTimeoutMs: config.idleTimeoutMs }, 'idle timeout: stopping');
      void close();
    },
  });

  let consumer: StepConsumer | undefined;
  const jobs = new JobRunner({
    config,
    redis: commands,
    fence,
    presence,
    results,
    steps,
    slots,
    allocation,
    lifecycle,
    idle,
    log,
    now,
    hold: (on) => consumer?.hold(on),
  });

  // ---- presence, idle, shutdown ---------------------------------------------------------------

  let closing: Promise<void> | undefined;

  const close = (options: CloseOptions = {}): Promise<void> => {
    const immediately = options.now === true;
    if (options.preempt) lifecycle.endOutcome = 'preempted';
    lifecycle.stopRequested();
    if (closing) {
      if (options.preempt) steps.stopAll('preempted', immediately);
      else if (!options.drain) {
        log.info({ steps: steps.size }, 'stopping now: killing running steps');
        steps.stopAll(lifecycle.endOutcome, true);
      }
      return closing;
    }
    lifecycle.stopping = true;
    closing = (async () => {
      lifecycle.state = 'draining';
      const graceMs = options.preempt || immediately ? 0 : options.drain ? undefined : config.shutdownGraceMs;
      log.info(
        { steps: steps.size, graceMs, reason: options.preempt ? 'preempt' : options.drain ? 'drain' : 'stop' },
        'worker draining',
      );
      void heartbeat.beat();
      const consumerClosed = consumer?.close();
      let cancelGrace: (() => void) | undefined;
      if (options.preempt) steps.stopAll('preempted', immediately);
      else if (immediately) steps.stopAll(lifecycle.endOutcome, true);
      else if (!options.drain) {
        cancelGrace = after(config.shutdownGraceMs, () => {
          if (steps.size > 0) log.info({ steps: steps.size }, 'shutdown grace over: interrupting running steps');
          steps.stopAll(lifecycle.endOutcome, false);
        });
      }
      try {
        await consumerClosed;
      } catch (err) {
        log.error({ err }, 'closing the queues failed');
      }
      cancelGrace?.();
      allocation.stop();
      heartbeat.stop();
      idle.stop();
      try {
        await withTimeout(presence.remove(), EXIT_REDIS_TIMEOUT_MS);
      } catch (err) {
        log.warn({ err }, 'cannot remove the worker record; it expires by itself');
      }
      await launcher.close();
      await Promise.all([
        withTimeout(closeRedis(subscriber), EXIT_REDIS_TIMEOUT_MS),
        withTimeout(closeRedis(commands), EXIT_REDIS_TIMEOUT_MS),
      ]).catch(() => {
        subscriber.disconnect();
        commands.disconnect();
      });
      lifecycle.markStopped();
      log.info({ done: results.done }, 'worker stopped');
    })();
    return closing;
  };

  try {
    await control.subscribe(subscriber, config.prefix);
    // Before the first step: never start one that cannot finish in the allocation.
    await allocation.start();
    lifecycle.state = 'running';
    consumer = makeStepConsumer(
      {
        redis: commands,
        prefix: config.prefix,
        queues: config.queues,
        concurrency: config.concurrency,
        workerName: config.name,
        lockDurationMs: config.lockDurationMs,
        stalledIntervalMs: config.stalledIntervalMs,
        maxRunsPerAttempt: config.maxRunsPerAttempt,
        handBackDelayMs: config.handBackDelayMs,
      },
      {
        process: (delivered) => jobs.process(delivered),
        lockLost: (key) => steps.lockLost(key),
        error: (err, kind, queue) => {
          if (kind === 'lost-lock') log.warn({ err, queue }, 'BullMQ could not finish a job whose lock was lost');
          else if (kind === 'connection') warnConnection(() => log.warn({ err, queue }, 'queue connection error'));
          else log.error({ err, queue }, 'queue error');
        },
      },
    );
    await consumer.ready();
  } catch (err) {
    await close({ now: true });
    throw err;
  }
  await heartbeat.beat();
  heartbeat.start(config.heartbeatMs);
  idle.start();
  log.info(
    {
      redis: redactUrl(config.redisUrl),
      prefix: config.prefix,
      queues: config.queues,
      concurrency: config.concurrency,
      cores: config.cores,
      gpus: config.gpuIds,
      scheduler: config.scheduler,
      nodes: config.nodes,
      ...(allocation.stopAt !== undefined ? { stopAt: new Date(allocation.stopAt).toISOString() } : {}),
      simulate: config.simulate,
      pid: process.pid,
    },
    'worker started',
  );

  return {
    name: config.name,
    get state() {
      return lifecycle.state;
    },
    stopped: lifecycle.stopped,
    close,
  };
}

/** `logger` with these bindings, leaving out those it already has (pino would repeat them). */
function withBindings(logger: Logger, bindings: Record<string, string>): Logger {
  const have = logger.bindings();
  const missing = Object.fromEntries(Object.entries(bindings).filter(([k]) => !(k in have)));
  return Object.keys(missing).length > 0 ? logger.child(missing) : logger;
}

function watchConnection(redis: Redis, role: string, log: Logger, warnConnection: (write: () => void) => void): void {
  let down = false;
  redis.on('error', (err: Error) => {
    down = true;
    warnConnection(() => log.warn({ err, role }, 'redis connection error'));
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'redis connection restored');
  });
}
