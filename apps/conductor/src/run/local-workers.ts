/**
 * Workers started by `maestro run` itself (`--local-workers N`): `maestro-worker` processes on
 * this machine, tied to the conductor's life (they die with it, and are restarted if one exits
 * while the study runs). Credentials reach them through the environment or a password file,
 * never their command line.
 *
 * Each runs in its own session (process group): a Ctrl-C at the terminal signals the conductor's
 * group only, and the conductor stops them itself, in order (stop(): they hand their running
 * steps back before Redis goes). When they are told to stop, their running steps are stopped at
 * once and handed back (`--shutdown-grace 0`): a study is stopped, not drained.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { workerBin } from '../exec/index.js';
import type { RedisTarget } from '../redis/connection.js';

export interface LocalWorkersOptions {
  readonly count: number;
  /** Steps each worker runs at once. */
  readonly concurrency: number;
  /** Redis URL for the workers (may hold a password: it goes into their environment only). */
  readonly redisUrl: string;
  readonly passwordFile?: string | undefined;
  /** The sentinels' password file (MAESTRO_SENTINEL_PASSWORD_FILE for the workers). */
  readonly sentinelPasswordFile?: string | undefined;
  /** CA certificate of a rediss:// server (MAESTRO_REDIS_TLS_CA_FILE for the workers). */
  readonly tlsCaFile?: string | undefined;
  readonly prefix: string;
  readonly queues: readonly string[];
  /** Worker logs go to `<logDir>/worker-<n>.log`. */
  readonly logDir: string;
  /** The conductor's log; given later (useLog) when the workers start before the conductor. */
  readonly log?: Logger | undefined;
  /** Extra worker flags (tests and benchmarks: --simulate, lock settings). */
  readonly extraArgs?: readonly string[];
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

export class LocalWorkers {
  readonly #children = new Map<number, ChildProcess>();
  #stopping = false;
  #started = false;
  #restarts = 0;
  #log: Logger | undefined;
  /** What was said before the conductor's log existed: written to it once it does. */
  readonly #early: { level: 'warn' | 'error'; fields: object; msg: string }[] = [];

  constructor(private readonly o: LocalWorkersOptions) {
    this.#log = o.log;
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

  /** Spawns the workers (once: later calls do nothing). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    mkdirSync(this.o.logDir, { recursive: true });
    for (let k = 1; k <= this.o.count; k++) this.#spawn(k);
  }

  get pids(): number[] {
    return [...this.#children.values()].map((c) => c.pid!).filter(Boolean);
  }

  #spawn(k: number): void {
    const args = [
      workerBin(),
      '--prefix',
      this.o.prefix,
      '--queues',
      this.o.queues.join(','),
      '--concurrency',
      String(this.o.concurrency),
      '--name',
      `local-${process.pid}-${k}`,
      '--shutdown-grace',
      '0',
      ...(this.o.extraArgs ?? []),
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, MAESTRO_REDIS_URL: this.o.redisUrl };
    if (this.o.passwordFile) env['MAESTRO_REDIS_PASSWORD_FILE'] = path.resolve(this.o.passwordFile);
    else delete env['MAESTRO_REDIS_PASSWORD_FILE'];
    if (this.o.sentinelPasswordFile) env['MAESTRO_SENTINEL_PASSWORD_FILE'] = path.resolve(this.o.sentinelPasswordFile);
    else delete env['MAESTRO_SENTINEL_PASSWORD_FILE'];
    if (this.o.tlsCaFile) env['MAESTRO_REDIS_TLS_CA_FILE'] = path.resolve(this.o.tlsCaFile);
    else delete env['MAESTRO_REDIS_TLS_CA_FILE'];
    const logFd = openSync(path.join(this.o.logDir, `worker-${k}.log`), 'a');
    // setpriv --pdeathsig: the worker is killed if the conductor dies, whatever kills it; its
    // own reaper then kills the steps it was running.
    const [cmd, ...cmdArgs] = SETPRIV
      ? [SETPRIV, '--pdeathsig', 'KILL', '--', process.execPath, ...WORKER_NODE_FLAGS, ...args]
      : [process.execPath, ...WORKER_NODE_FLAGS, ...args];
    const child = spawn(cmd!, cmdArgs, { env, stdio: ['ignore', logFd, logFd], detached: true });
    closeSync(logFd);
    this.#children.set(k, child);
    child.once('exit', (code, signal) => {
      this.#children.delete(k);
      if (this.#stopping) return;
      this.#say('warn', { worker: k, code, signal }, 'local worker exited; starting another');
      if (++this.#restarts <= 20 * this.o.count) setTimeout(() => this.#stopping || this.#spawn(k), 500).unref();
      else this.#say('error', {}, 'local workers keep exiting; see meta/logs/worker-*.log');
    });
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
    redisUrl: o.redis.url,
    passwordFile: o.redis.passwordFile,
    sentinelPasswordFile: o.redis.sentinelPasswordFile,
    tlsCaFile: o.redis.tlsCaFile,
    prefix: o.prefix,
    queues: o.queues,
    logDir: path.join(o.metaDir, 'logs'),
    extraArgs: o.extraArgs,
  });
  workers.start();
  return workers;
}
