/**
 * Driving a worker the way the conductor does, against a real Redis: write the study's records,
 * add StepJobs with BullMQ, read the events stream. Plus real-process helpers: a built
 * `maestro-worker` spawned as a child, and /proc lookups for what survives a kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { vi } from 'vitest';
import {
  DEFAULT_QUEUE,
  EVENT_FIELD,
  eventsKey,
  PROTOCOL_VERSION,
  STATE_RECORD_BYTES,
  stateKey,
  StepEvent,
  stepJobId,
  studyKey,
  type StepJobInput,
  type StepResult,
} from '@maestro/protocol';
import {
  loadConfig,
  startWorker,
  type StartWorkerOptions,
  type WorkerConfig,
  type WorkerHandle,
  type WorkerOptions,
} from '../src/index.js';

export const WORKER_BIN = fileURLToPath(new URL('../bin/maestro-worker.js', import.meta.url));

/** Tests that spawn `maestro-worker` run the compiled code: fail early, and say so, without it. */
export function assertWorkerBuilt(): void {
  const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  if (!existsSync(main)) throw new Error(`${main} is missing: build first with \`npx tsc -b\``);
}

/** Things to close after each test, newest first. */
export class Tracker {
  private readonly closers: (() => Promise<unknown> | unknown)[] = [];
  track<T>(value: T, close: (v: T) => Promise<unknown> | unknown): T {
    this.closers.push(() => close(value));
    return value;
  }
  async closeAll(): Promise<void> {
    while (this.closers.length > 0) {
      const close = this.closers.pop()!;
      try {
        await close();
      } catch {
        // best effort: one failed close must not hide the others
      }
    }
  }
}

/** A fresh key prefix (BullMQ and maestro keys) so tests never see each other's data. */
export const newPrefix = (): string => `t${randomUUID().slice(0, 8)}`;

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'maestro-worker-test-'));
}

export interface Study {
  prefix: string;
  studyId: string;
  redis: Redis;
  queue: Queue;
  /** Adds instance `index`, attempt `attempt` (default 1) as a StepJob. */
  add(job: Partial<StepJobInput> & { index: number; script: string }, queueName?: string): Promise<string>;
  events(): Promise<StepEvent[]>;
  results(): Promise<StepResult[]>;
  /** Waits for a result matching `match` and returns it. */
  waitForResult(match: (r: StepResult) => boolean, timeoutMs?: number): Promise<StepResult>;
  waitForStarted(index: number, run: number, timeoutMs?: number): Promise<void>;
}

/** Writes what the conductor would (study hash, packed state) and opens a producer queue. */
export async function makeStudy(
  redisUrl: string,
  tracker: Tracker,
  options: { prefix?: string; instances?: number; workspaceRoot?: string; queueName?: string } = {},
): Promise<Study & { root: string }> {
  const prefix = options.prefix ?? newPrefix();
  const studyId = `s${randomUUID().slice(0, 8)}`;
  const root = options.workspaceRoot ?? tempDir();
  const redis = tracker.track(new Redis(redisUrl), (r) => r.quit());
  const queues = new Map<string, Queue>();
  const queueFor = (name: string): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = tracker.track(new Queue(name, { connection: { url: redisUrl }, prefix }), (x) => x.close());
      queues.set(name, q);
    }
    return q;
  };
  const queue = queueFor(options.queueName ?? DEFAULT_QUEUE);
  await redis.hset(studyKey(prefix, studyId), { state: 'RUNNING', meta: JSON.stringify({ name: 'test' }) });
  await redis.set(stateKey(prefix, studyId), Buffer.alloc((options.instances ?? 8) * STATE_RECORD_BYTES));

  const events = async (): Promise<StepEvent[]> => {
    const entries = await redis.xrange(eventsKey(prefix, studyId), '-', '+');
    return entries.map(([, fields]) => {
      const at = fields.indexOf(EVENT_FIELD);
      return StepEvent.parse(JSON.parse(fields[at + 1]!));
    });
  };
  const results = async (): Promise<StepResult[]> =>
    (await events()).filter((e): e is StepResult => e.type === 'result');

  return {
    prefix,
    studyId,
    root,
    redis,
    queue,
    async add(job, queueName) {
      const attempt = job.attempt ?? 1;
      const data: StepJobInput = {
        protocol: PROTOCOL_VERSION,
        prefix,
        studyId,
        attempt,
        name: `step_${job.index}`,
        workspace: path.join(root, `step_${job.index}`),
        fileName: `step_${job.index}`,
        kind: 'cmd',
        interpreter: ['/bin/bash'],
        ...job,
      };
      const id = stepJobId(studyId, job.index, attempt);
      await queueFor(queueName ?? options.queueName ?? DEFAULT_QUEUE).add('step', data, {
        jobId: id,
        removeOnComplete: true,
      });
      return id;
    },
    events,
    results,
    async waitForResult(match, timeoutMs = 30_000) {
      return vi.waitFor(
        async () => {
          const r = (await results()).find(match);
          if (!r) throw new Error('no matching result yet');
          return r;
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
    async waitForStarted(index, run, timeoutMs = 30_000) {
      await vi.waitFor(
        async () => {
          const ok = (await events()).some((e) => e.type === 'started' && e.index === index && e.run === run);
          if (!ok) throw new Error(`instance ${index} run ${run} not started yet`);
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
  };
}

/** Log lines of an in-process worker, parsed. */
export interface LogCapture {
  logger: Logger;
  lines: Record<string, unknown>[];
  text(): string;
}

export function captureLogs(level = 'debug'): LogCapture {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines, text: () => raw };
}

/**
 * Starts a worker in this process (the embedding API), closed after the test. Its claims write
 * their started events at once (`announceDelayMs: 0`), so that tests reading the events see the
 * same ones however fast the steps end; worker.run.int.test.ts tests the delay itself.
 */
export async function startTestWorker(
  tracker: Tracker,
  redisUrl: string,
  prefix: string,
  options: WorkerOptions = {},
  overrides: Partial<WorkerConfig> = {},
  start: StartWorkerOptions = {},
): Promise<{ worker: WorkerHandle; logs: LogCapture; config: Readonly<WorkerConfig> }> {
  const config = {
    ...loadConfig({ redis: redisUrl, prefix, concurrency: 2, ...options }, {}),
    announceDelayMs: 0,
    ...overrides,
  };
  const logs = captureLogs();
  const worker = await startWorker(config, logs.logger, start);
  tracker.track(worker, (w) => w.close({ now: true }));
  return { worker, logs, config };
}

/** A `maestro-worker` child process, its stderr collected line by line. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function spawnWorker(
  tracker: Tracker,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { /** Its own process group, as under a batch system. */ detached?: boolean } = {},
): WorkerProcess {
  const child = spawn(process.execPath, [WORKER_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAESTRO_REDIS_URL: undefined, ...env },
    detached: options.detached === true,
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  tracker.track(child, async (c) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    await exited;
  });
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    exited,
    async waitForLog(pattern, timeoutMs = 30_000) {
      await vi.waitFor(
        () => {
          if (!pattern.test(err)) throw new Error(`worker has not logged ${pattern} yet; it logged:\n${err}`);
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
  };
}

/** A `maestro-worker` process with one slot and a name, once it has logged "worker started". */
export async function startOneSlotWorker(
  tracker: Tracker,
  redisUrl: string,
  prefix: string,
  name: string,
): Promise<WorkerProcess> {
  const w = spawnWorker(tracker, ['--redis', redisUrl, '--prefix', prefix, '--concurrency', '1', '--name', name]);
  await w.waitForLog(/worker started/);
  return w;
}

// ---- /proc -------------------------------------------------------------------------------------

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  cmdline: string;
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(name), state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), cmdline });
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/** Processes that are not zombies (exited orphans are never reaped where PID 1 is not an init). */
export const liveProcesses = (): ProcInfo[] => listProcesses().filter((p) => p.state !== 'Z');

export const liveGroupMembers = (pgid: number): ProcInfo[] => liveProcesses().filter((p) => p.pgrp === pgid);

export const liveWithMarker = (marker: string): ProcInfo[] => liveProcesses().filter((p) => p.cmdline.includes(marker));

/** Fields of /proc/PID/stat after `pid (comm)`: state, ppid, pgrp, ...; undefined if gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export const procState = (pid: number): string | undefined => statFields(pid)?.[0];

export function parentOf(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** The command line of a step launcher: the script's (and its slot shells'), or the compiled one's. */
export const LAUNCHER_COMMAND = /launcher\.sh|maestro-launcher/;

const isLauncher = (pid: number): boolean => {
  try {
    return LAUNCHER_COMMAND.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
};

/**
 * The launcher that started a step: its parent (the compiled launcher), or the launcher script
 * above the step's slot shell. Undefined if neither is found.
 */
export function launcherOf(stepPid: number): number | undefined {
  let pid = parentOf(stepPid);
  if (pid === undefined || !isLauncher(pid)) return undefined;
  for (let up = parentOf(pid); up !== undefined && isLauncher(up); up = parentOf(up)) pid = up;
  return pid;
}

/** Open fds of a process that are pipes or sockets (`pipe:[inode]`, `socket:[inode]`). */
export function ipcFds(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (link.startsWith('pipe:') || link.startsWith('socket:')) fds.set(Number(fd), link);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return fds;
}

/** Reads a pid written by a step script into its workspace. */
export async function readPidFile(file: string): Promise<number> {
  return vi.waitFor(
    () => {
      const text = readFileSync(file, 'utf8').trim();
      if (!/^\d+$/.test(text)) throw new Error(`${file} holds no pid yet`);
      return Number(text);
    },
    { timeout: 30_000, interval: 50 },
  );
}
