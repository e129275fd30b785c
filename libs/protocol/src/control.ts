/**
 * ControlRequest: what `maestro cancel` / `maestro update` / `maestro workers release` ask of a running study.
 * Producer: the CLI. Consumer: the study's conductor. Channel: `XADD <p>:study:<id>:control * c <json>`.
 *
 * WorkerSignal: what the conductor tells every worker at once.
 * Producer: the conductor. Consumer: workers. Channel: PUBLISH `<p>:control` <json>. Pub/sub can
 * be missed, so workers also check the study's `cancelled` field before starting a step.
 */
import { z } from 'zod';

export const ControlRequest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cancel') }),
  z.object({
    type: z.literal('update'),
    /** New limit of steps in flight; 0 = unlimited. */
    throttle: z.number().int().nonnegative().optional(),
    /** New limit of restarts after a timeout; 0 = unlimited. */
    rlimit: z.number().int().nonnegative().optional(),
  }),
  /** End the bad-node quarantine of this host: its workers may take the study's steps again. */
  z.object({ type: z.literal('release'), host: z.string().min(1) }),
]);
export type ControlRequest = z.output<typeof ControlRequest>;
export const CONTROL_FIELD = 'c';

export const WorkerSignal = z.discriminatedUnion('type', [
  /** Kill the running steps of this study (all of them, or only these instances). */
  z.object({ type: z.literal('cancel'), studyId: z.string(), indices: z.array(z.number().int()).optional() }),
  /**
   * Stop taking steps, let the running ones finish, then exit (`maestro workers stop`): the
   * workers of these allocations and these workers by name; neither = every worker. Also kept
   * in {@link DRAIN_TTL_MS}-lived entries of `<p>:drain`, for workers that miss the message.
   */
  z.object({
    type: z.literal('drain'),
    allocations: z.array(z.string()).optional(),
    workers: z.array(z.string()).optional(),
  }),
]);
export type WorkerSignal = z.output<typeof WorkerSignal>;

/** A worker's heartbeat hash (`<p>:worker:<name>`), refreshed every few seconds with a TTL. */
export const WorkerRecord = z.object({
  name: z.string(),
  host: z.string(),
  pid: z.coerce.number().int(),
  queues: z.string(),
  /** Steps run at once at most (`--concurrency`). */
  slots: z.coerce.number().int(),
  /** Cores and GPUs the worker hands out to steps, and how many of them are free now. */
  cores: z.coerce.number().int().optional(),
  gpus: z.coerce.number().int().optional(),
  freeCores: z.coerce.number().int().optional(),
  freeGpus: z.coerce.number().int().optional(),
  /** Nodes of the worker's allocation (1 without one). */
  nodes: z.coerce.number().int().optional(),
  running: z.coerce.number().int(),
  done: z.coerce.number().int(),
  startedAt: z.coerce.number(),
  lastSeen: z.coerce.number(),
  allocationId: z.string().optional(),
  scheduler: z.string().optional(),
  /** Epoch ms when the allocation ends, if known. */
  allocationEndsAt: z.coerce.number().optional(),
  /** Epoch ms from which the worker starts no step and preempts running ones (end − margin). */
  stopAt: z.coerce.number().optional(),
  state: z.enum(['starting', 'running', 'draining', 'stopped']),
});
export type WorkerRecord = z.output<typeof WorkerRecord>;
/**
 * How often a worker rewrites its record. Each beat is one transaction of six commands; at 5 s a
 * fleet of 4,000 idle workers spent 4,800 commands a second on it (bench `--only fleet`). Dead
 * workers' steps are found through their BullMQ locks, not this record: it only feeds `maestro
 * workers`, the dashboard and the fleet's count of live workers.
 */
export const WORKER_HEARTBEAT_MS = 10_000;
/** How long a `maestro workers stop` request waits in `<p>:drain` for workers that missed it. */
export const DRAIN_TTL_MS = 24 * 3_600_000;
/** A worker record outlives three missed heartbeats (a worker's event loop may lag that long under load). */
export const WORKER_RECORD_TTL_MS = 30_000;
