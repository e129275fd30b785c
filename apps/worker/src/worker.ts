/**
 * A running worker: takes StepJobs from its queues, claims each run through the fence, runs the
 * step's script in its workspace and reports the result through the fence. This module only
 * builds the parts and wires them together; each part owns one concern:
 *
 * - queue/consumer.ts: BullMQ, delivering jobs and holding off while there is no room;
 * - job-runner.ts: one job (parse, room, its members), ending the BullMQ job exactly once;
 * - step-runner.ts: one claimed run (spawn, walltime, kills, outcome), step-outcome.ts its outcome;
 * - results.ts: results reported through the fence; slots.ts: cores and GPUs handed out;
 * - control.ts: cancels and drains from the conductor; heartbeat.ts: the worker record;
 * - allocation-end.ts: when the allocation ends and the worker must stop; idle-timeout.ts;
 * - start-up-garbage.ts: one collection of what starting left, in the first quiet moment;
 * - lifecycle.ts: the state every part reads; shutdown.ts: close(), in order.
 *
 * All of them read time from one clock (`StartWorkerOptions.now`); timers stay real.
 */
import { redactUrl } from '@maestro/secrets';
import type { Logger } from 'pino';
import { makeAllocationClock } from './allocation.js';
import { AllocationEnd } from './allocation-end.js';
import type { WorkerConfig } from './config.js';
import { makeConnections } from './connections.js';
import { ControlChannel } from './control.js';
import { Heartbeat, makePresence } from './heartbeat.js';
import { IdleTimeout } from './idle-timeout.js';
import { JobRunner, type StepStartTimes } from './job-runner.js';
import { Lifecycle, type WorkerState } from './lifecycle.js';
import { makeStepConsumer, type StepConsumer } from './queue/consumer.js';
import { makeFence } from './queue/fence.js';
import type { Redis } from './redis.js';
import { Results } from './results.js';
import { launcherKind, startLauncher, type StepLauncher } from './run-step.js';
import { Shutdown, type CloseOptions } from './shutdown.js';
import { Slots } from './slots.js';
import { StartUpGarbage } from './start-up-garbage.js';
import { StepRunner } from './step-runner.js';
import { throttled, type Now } from './timers.js';

export type { WorkerState } from './lifecycle.js';
export type { CloseOptions } from './shutdown.js';
export type { StepStartTimes } from './job-runner.js';

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

/** What an embedder may replace in a worker; main.ts passes none of it. */
export interface StartWorkerOptions {
  /**
   * Epoch ms now: every time the worker reads (cancel memory, walltime fit, idle timeout,
   * allocation end, result times) comes from here, so tests can drive it. Timers stay real.
   * @default Date.now
   */
  now?: Now;
  /**
   * Told of every run as it starts: when its job was queued and when it started, for the fleet
   * benchmark's ready-to-start latency. Called on the worker's hot path: keep it cheap.
   */
  onStepStarted?: (started: StepStartTimes) => void;
  /**
   * One full collection of the start-up's garbage in the first quiet moment (start-up-garbage.ts).
   * A worker inside another process (the conductor's home worker) leaves its host's heap alone.
   * @default true
   */
  collectStartUpGarbage?: boolean;
}

/** The launcher of a simulating worker, which never spawns a step. */
const NO_LAUNCHER: StepLauncher = {
  spawnStep: () => {
    throw new Error('a simulating worker spawns no step');
  },
  close: () => Promise.resolve(),
};

/**
 * Repeated connection errors are logged at most this often. Failed heartbeats and unanswered
 * time-left queries share the throttle: one outage writes one line per interval, not three.
 */
const CONNECTION_LOG_INTERVAL_MS = 30_000;

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
  const warn = throttled(CONNECTION_LOG_INTERVAL_MS, now);
  const lifecycle = new Lifecycle();
  const slots = new Slots(config.cores, config.gpuIds);
  const connections = makeConnections(config, log, warn);
  const { commands, subscriber } = connections;
  const fence = makeFence(commands, config.prefix, config.maxRunsPerAttempt);
  const presence = makePresence(commands, config.prefix, config);
  let launcher: StepLauncher;
  try {
    // A simulating worker spawns nothing: no launcher process (a fleet of them would be thousands).
    launcher = config.simulate ? NO_LAUNCHER : startLauncher(log, config.concurrency, launcherKind(config.launcher));
  } catch (err) {
    connections.disconnect();
    throw err;
  }
  const results = new Results(fence, config, log, now);
  let consumer: StepConsumer | undefined;
  const close = (closeOptions?: CloseOptions): Promise<void> => shutdown.close(closeOptions);

  /** A drain asked for by `maestro workers stop`, on the control channel or at a heartbeat. */
  const drain = (): void => {
    log.info({ steps: steps.size }, 'drain requested: finishing the running steps, then stopping');
    void close({ drain: true });
  };
  const control = new ControlChannel(config, log, now, { cancelRunning: (): number => steps.killCancelled(), drain });
  const steps = new StepRunner({ config, launcher, results, lifecycle, control, log, now });
  const allocation = new AllocationEnd({
    clock: makeAllocationClock(config, now),
    preemptMarginMs: config.preemptMarginMs,
    refreshMs: config.timeLeftRefreshMs,
    now,
    log,
    warn,
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
    warn,
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
  const startUpGarbage = new StartUpGarbage({ isQuiet: () => idle.isQuiet() });
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
    onStepStarted: options.onStepStarted,
  });
  const shutdown = new Shutdown({
    config,
    lifecycle,
    steps,
    heartbeat,
    consumer: () => consumer,
    timers: [allocation, heartbeat, idle, startUpGarbage],
    presence,
    launcher,
    connections,
    results,
    log,
  });

  try {
    await control.subscribe(subscriber, config.prefix);
    // Before the first step: never start one that cannot finish in the allocation.
    await allocation.start();
    lifecycle.state = 'running';
    consumer = startConsumer(config, commands, jobs, steps, log, warn);
    await consumer.ready();
  } catch (err) {
    await close({ now: true });
    throw err;
  }
  await heartbeat.beat();
  heartbeat.start(config.heartbeatMs);
  idle.start();
  if (options.collectStartUpGarbage !== false) startUpGarbage.start();
  logStarted(log, config, allocation.stopAt);
  return {
    name: config.name,
    get state() {
      return lifecycle.state;
    },
    stopped: lifecycle.stopped,
    close,
  };
}

/** The queue consumer, handing each job to the job runner and each lost lock to the step runner. */
function startConsumer(
  config: Readonly<WorkerConfig>,
  redis: Redis,
  jobs: JobRunner,
  steps: StepRunner,
  log: Logger,
  warn: (write: () => void) => void,
): StepConsumer {
  return makeStepConsumer(
    {
      redis,
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
        else if (kind === 'connection') warn(() => log.warn({ err, queue }, 'queue connection error'));
        // BullMQ asks again at once, many times a second: one line now and then, without the script.
        else if (kind === 'busy')
          warn(() => log.warn({ queue, said: err.message }, 'Redis is busy running a script (BUSY); waiting for it'));
        else log.error({ err, queue }, 'queue error');
      },
    },
  );
}

function logStarted(log: Logger, config: Readonly<WorkerConfig>, stopAt: number | undefined): void {
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
      ...(stopAt !== undefined ? { stopAt: new Date(stopAt).toISOString() } : {}),
      simulate: config.simulate,
      pid: process.pid,
    },
    'worker started',
  );
}

/** `logger` with these bindings, leaving out those it already has (pino would repeat them). */
function withBindings(logger: Logger, bindings: Record<string, string>): Logger {
  const have = logger.bindings();
  const missing = Object.fromEntries(Object.entries(bindings).filter(([k]) => !(k in have)));
  return Object.keys(missing).length > 0 ? logger.child(missing) : logger;
}
