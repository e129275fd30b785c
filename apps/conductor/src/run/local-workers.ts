/**
 * Workers started by `maestro run` itself (`--local-workers N`): `maestro-worker` processes on
 * this machine, tied to the conductor's life (they die with it, and are restarted if one exits
 * while the study runs). Credentials reach them on their standard input, never their command
 * line.
 *
 * They may be started before their Redis exists (`--settings-on-stdin`): a worker's start,
 * mostly Node compiling its bundle, then overlaps the conductor reading the spec and starting
 * Redis. connect() writes each one its Redis, queues and log once known; abandon() closes their
 * standard input instead, and they exit. A conductor that dies first closes it too.
 *
 * Each runs in its own session (process group): a Ctrl-C at the terminal signals the conductor's
 * group only, and the conductor stops them itself, in order (stop(): they hand their running
 * steps back before Redis goes). When they are told to stop, their running steps are stopped at
 * once and handed back (`--shutdown-grace 0`): a study is stopped, not drained.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
// Not exec/index.js: its execa would load before the workers start (startEarlyWorkers).
import { workerBin } from '../exec/worker-bin.js';
import type { RedisTarget } from '../redis/connection.js';
import type { StudyWorkers } from './study-workers.js';

export interface LocalWorkersOptions {
  readonly count: number;
  /** Steps each worker runs at once. */
  readonly concurrency: number;
  /** The conductor's log; given later (useLog) when the workers start before the conductor. */
  readonly log?: Logger | undefined;
  /** Extra worker flags (tests and benchmarks: --simulate, lock settings). */
  readonly extraArgs?: readonly string[] | undefined;
}

/** What the workers learn once the study's Redis answers (connect()). */
export interface LocalWorkersTarget {
  /** Redis URL and files (the URL may hold a password: it goes through their stdin only). */
  readonly redis: RedisTarget;
  readonly prefix: string;
  readonly queues: readonly string[];
  /** Worker logs go to `<logDir>/worker-<n>.log`. */
  readonly logDir: string;
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
/**
 * V8 settings of a local worker, which allocates little and keeps less: V8's young generation
 * capped at 1 MiB a half (it grows to 16 MiB), and heap growth that favours size over speed. A
 * worker's peak RSS on 100 no-op steps fell from 97-98 MiB to 77-78 with both, 84-85 with the
 * cap alone (`npm run bench -- --only small`). Only local workers get them: on a laptop or a
 * login node a worker's memory is what a user sees first.
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];

/**
 * The worker's variables that its stdin settings line sets (apps/worker/src/stdin-settings.ts):
 * never inherited from the conductor's environment by a worker of the study's.
 */
export const STDIN_SETTINGS = {
  url: 'MAESTRO_REDIS_URL',
  passwordFile: 'MAESTRO_REDIS_PASSWORD_FILE',
  sentinelPasswordFile: 'MAESTRO_SENTINEL_PASSWORD_FILE',
  tlsCaFile: 'MAESTRO_REDIS_TLS_CA_FILE',
  prefix: 'MAESTRO_PREFIX',
  queues: 'MAESTRO_QUEUES',
} as const;

/** Pipes the child's output into `file`; settles once both ended and the file is written. */
async function flushed(child: ChildProcess, file: WriteStream): Promise<void> {
  const outputs = [child.stdout, child.stderr].filter((s) => s !== null);
  for (const s of outputs) s.pipe(file, { end: false });
  await Promise.all(outputs.map((s) => (s.readableEnded || s.destroyed ? undefined : once(s, 'close'))));
  file.end();
  await once(file, 'close').catch(() => undefined);
}

export class LocalWorkers implements StudyWorkers {
  readonly #children = new Map<number, ChildProcess>();
  /** Each child's log file, open once connect() named it; flushed before stop() resolves. */
  readonly #logs = new Map<ChildProcess, Promise<void>>();
  #target: LocalWorkersTarget | undefined;
  #count: number;
  #stopping = false;
  #started = false;
  #restarts = 0;
  #log: Logger | undefined;
  /** What was said before the conductor's log existed: written to it once it does. */
  readonly #early: { level: 'warn' | 'error'; fields: object; msg: string }[] = [];

  constructor(private readonly o: LocalWorkersOptions) {
    this.#log = o.log;
    this.#count = o.count;
  }

  /** The conductor's log, for workers started before it existed. */
  useLog(log: Logger): void {
    this.#log = log;
    for (const e of this.#early.splice(0)) log[e.level](e.fields, e.msg);
  }

  #say(level: 'warn' | 'error', fields: object, msg: string): void {
    if (this.#log) this.#log[level](fields, msg);
    else this.#early.push({ level, fields, msg });
  }

  /** Spawns the workers (once: later calls do nothing); they wait for connect(). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (let k = 1; k <= this.#count; k++) this.#spawn(k);
  }

  /** Starts more workers, up to `count` in all (a study wider than guessed at the start). */
  grow(count: number): void {
    if (this.#stopping) return;
    for (let k = this.#count + 1; k <= count; k++) this.#spawn(k);
    this.#count = Math.max(this.#count, count);
  }

  /** Gives every worker, and every one started later, its Redis, queues and log. */
  connect(target: LocalWorkersTarget): void {
    this.#target = target;
    mkdirSync(target.logDir, { recursive: true });
    for (const [k, child] of this.#children) this.#tell(k, child, target);
  }

  /**
   * For workers never told where their Redis is (the run stopped before it had one): they are
   * still loading or waiting for their stdin, with nothing to hand back, so SIGTERM ends them
   * at once, and nothing of theirs keeps the conductor alive.
   */
  abandon(): void {
    this.#stopping = true;
    for (const c of this.#children.values()) {
      c.kill('SIGTERM');
      for (const s of [c.stdin, c.stdout, c.stderr]) s?.destroy();
      c.unref();
    }
  }

  get pids(): number[] {
    return [...this.#children.values()].map((c) => c.pid!).filter(Boolean);
  }

  #spawn(k: number): void {
    const args = [
      workerBin(),
      '--settings-on-stdin',
      '--concurrency',
      String(this.o.concurrency),
      '--name',
      `local-${process.pid}-${k}`,
      '--shutdown-grace',
      '0',
      ...(this.o.extraArgs ?? []),
    ];
    // Redis settings come on stdin only: none inherited from the conductor's environment.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.values(STDIN_SETTINGS)) delete env[name];
    // setpriv --pdeathsig: the worker is killed if the conductor dies, whatever kills it; its
    // own reaper then kills the steps it was running.
    const [cmd, ...cmdArgs] = SETPRIV
      ? [SETPRIV, '--pdeathsig', 'KILL', '--', process.execPath, ...WORKER_NODE_FLAGS, ...args]
      : [process.execPath, ...WORKER_NODE_FLAGS, ...args];
    // Its output comes through the conductor until connect() names its log file.
    const child = spawn(cmd!, cmdArgs, { env, stdio: 'pipe', detached: true });
    child.stdin.on('error', () => undefined); // EPIPE: it exited first, which 'exit' reports
    this.#children.set(k, child);
    if (this.#target) this.#tell(k, child, this.#target);
    child.once('exit', (code, signal) => {
      this.#children.delete(k);
      if (this.#stopping) return;
      this.#say('warn', { worker: k, code, signal }, 'local worker exited; starting another');
      if (++this.#restarts <= 20 * this.#count) setTimeout(() => this.#stopping || this.#spawn(k), 500).unref();
      else this.#say('error', {}, 'local workers keep exiting; see meta/logs/worker-*.log');
    });
  }

  /** Writes the worker its settings line, and sends its output to its log file. */
  #tell(k: number, child: ChildProcess, target: LocalWorkersTarget): void {
    if (this.#logs.has(child)) return;
    const file = createWriteStream(path.join(target.logDir, `worker-${k}.log`), { flags: 'a' });
    this.#logs.set(child, flushed(child, file));
    const r = target.redis;
    const settings: Record<string, string | undefined> = {
      [STDIN_SETTINGS.url]: r.url,
      [STDIN_SETTINGS.passwordFile]: r.passwordFile && path.resolve(r.passwordFile),
      [STDIN_SETTINGS.sentinelPasswordFile]: r.sentinelPasswordFile && path.resolve(r.sentinelPasswordFile),
      [STDIN_SETTINGS.tlsCaFile]: r.tlsCaFile && path.resolve(r.tlsCaFile),
      [STDIN_SETTINGS.prefix]: target.prefix,
      [STDIN_SETTINGS.queues]: target.queues.join(','),
    };
    child.stdin?.end(`${JSON.stringify(settings)}\n`);
  }

  /** SIGTERM (the workers hand back what they run, then exit), then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    const children = [...this.#children.values()];
    const exited = children.map(
      (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))),
    );
    for (const c of children) c.kill('SIGTERM');
    const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), graceMs);
    await Promise.all(exited);
    clearTimeout(timer);
    await Promise.all(children.map((c) => this.#logs.get(c)));
  }

  /**
   * SIGKILL now, for when nothing can be handed back (Redis is gone) or the user insists. Only
   * the worker itself: its step launcher, which sees the worker gone, ends the steps it ran.
   */
  kill(): void {
    this.#stopping = true;
    for (const c of this.#children.values()) c.kill('SIGKILL');
  }
}

export interface StudyWorkersOptions {
  /** How many; 0 starts none. */
  readonly count: number;
  readonly concurrency: number;
  readonly redis: RedisTarget;
  readonly prefix: string;
  readonly queues: readonly string[];
  /** The study's meta folder: worker logs go to its logs/. */
  readonly metaDir: string;
  readonly extraArgs?: readonly string[] | undefined;
}

/**
 * Starts a study's local workers as soon as its Redis answers, before the conductor's own
 * modules load: a worker takes longer to start than the conductor, so the first step waits on
 * it. Undefined when the study runs none.
 */
export function startStudyWorkers(o: StudyWorkersOptions): LocalWorkers | undefined {
  if (o.count <= 0) return undefined;
  const workers = new LocalWorkers({
    count: o.count,
    concurrency: o.concurrency,
    extraArgs: o.extraArgs,
  });
  workers.start();
  workers.connect({ redis: o.redis, prefix: o.prefix, queues: o.queues, logDir: path.join(o.metaDir, 'logs') });
  return workers;
}

/** What `maestro run` was given that decides its early workers. */
export interface EarlyWorkerFlags {
  dry?: boolean | undefined;
  detach?: boolean | undefined;
  autoscale?: string | undefined;
  localWorkers?: number | undefined;
  workerConcurrency?: number | undefined;
  workerArg?: string[] | undefined;
}

/**
 * Whether a study's steps run in `maestro-worker` processes: only when a flag asks for them
 * (their number, their flags or their concurrency); otherwise in the conductor's own process
 * (HomeWorker), which a small study's first step does not have to wait for.
 */
export function wantsWorkerProcesses(
  f: Pick<EarlyWorkerFlags, 'localWorkers' | 'workerArg' | 'workerConcurrency'>,
): boolean {
  return f.localWorkers !== undefined || (f.workerArg?.length ?? 0) > 0 || f.workerConcurrency !== undefined;
}

/**
 * The local workers `maestro run` starts as soon as its options are read, before it loads the
 * rest of its code or reads the spec, when worker processes are asked for: as many as
 * `--local-workers`, else one (a wider study gets the rest once its width is known, grow()).
 * None for a dry run, a detached one, or one whose workers come from allocations.
 */
export function startEarlyWorkers(f: EarlyWorkerFlags): LocalWorkers | undefined {
  if (f.dry || f.detach || f.autoscale !== undefined || f.localWorkers === 0 || !wantsWorkerProcesses(f))
    return undefined;
  const workers = new LocalWorkers({
    count: f.localWorkers ?? 1,
    concurrency: f.workerConcurrency ?? 1,
    extraArgs: f.workerArg,
  });
  workers.start();
  return workers;
}
