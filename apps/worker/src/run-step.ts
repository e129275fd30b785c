/**
 * Running processes: the only module that imports execa. The worker starts one small launcher with
 * execa (dist/maestro-launcher, compiled from native/launcher.c, or the same protocol in bash,
 * scripts/launcher.sh), and every step is started by that launcher:
 *
 * - fork() costs in proportion to the size of the process that forks: from this worker (~100 MB
 *   of Node) a step cost ~4 ms of CPU, from the launcher a fraction of that (measured:
 *   bench "no-op steps" and "cpu"), which is most of the cost of a short step;
 * - the launcher is also the reaper: if the worker dies (even SIGKILL), the kernel closes the
 *   launcher's stdin and the launcher kills every step still running, so a re-delivered step
 *   never runs twice in one workspace (bullmq-facts.md). It runs in a session of its own: a
 *   scheduler that SIGKILLs the worker's process group (a Flux job shell ending its task, a
 *   moment after the end of an allocation) kills the worker, not the reaper of its steps.
 *
 * Each step leads its own process group (one signal reaches all it started), runs in its
 * workspace with stdin closed, and writes stdout and stderr straight into its `.out`/`.err` files:
 * nothing passes through the worker, and a frozen worker never blocks a step's output.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import { execa, type Options, type ResultPromise } from 'execa';
import type { StepJob } from '@maestro/protocol';
import type { Logger } from 'pino';
import { describeSystemError, WorkerError, WorkerErrorCode } from './errors.js';

/**
 * This package's folder, found by its name rather than from this file's place: the conductor
 * bundles this module into its own files when it runs a worker in its process (its home worker).
 */
const PACKAGE_DIR = path.dirname(createRequire(import.meta.url).resolve('@maestro/worker/package.json'));
export const LAUNCHER_SCRIPT = path.join(PACKAGE_DIR, 'scripts', 'launcher.sh');
/** The same launcher compiled (native/launcher.c, built by `npm run build` where a C compiler is). */
export const LAUNCHER_BINARY = path.join(PACKAGE_DIR, 'dist', 'maestro-launcher');

export type LauncherKind = 'compiled' | 'script';
export type LauncherChoice = LauncherKind | 'auto';

/** Whether a compiled launcher answered `--check` here, by path (asked once per process). */
const compiledWorks = new Map<string, boolean>();

function compiledRuns(binary: string): boolean {
  let works = compiledWorks.get(binary);
  if (works === undefined) {
    try {
      const answer = execFileSync(binary, ['--check'], {
        encoding: 'utf8',
        timeout: 10_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      works = answer === 'ok\n';
    } catch {
      works = false;
    }
    compiledWorks.set(binary, works);
  }
  return works;
}

/**
 * The launcher to use for a choice (WorkerConfig.launcher, MAESTRO_LAUNCHER): `auto` takes the
 * compiled one where it was built and runs here (a node may lack what the build host had:
 * another architecture on a shared file system), else the script; `compiled` insists on it.
 */
export function launcherKind(choice: LauncherChoice = 'auto', binary = LAUNCHER_BINARY): LauncherKind {
  if (choice === 'script') return 'script';
  if (compiledRuns(binary)) return 'compiled';
  if (choice === 'auto') return 'script';
  throw new WorkerError(
    WorkerErrorCode.Reaper,
    `MAESTRO_LAUNCHER=compiled: ${binary} does not run here (missing, or built for another machine: run \`npm run build\` here, or use MAESTRO_LAUNCHER=auto or script)`,
  );
}

/**
 * Variables never passed to a step: those that lead to the Redis password, and the tasks per node
 * of the worker's own `srun` (a step's `srun -n P -N N` would warn that it cannot honour it).
 */
const WITHHELD_ENV = [
  'MAESTRO_REDIS_URL',
  'MAESTRO_REDIS_PASSWORD_FILE',
  'MAESTRO_REDIS_TLS_CA_FILE',
  'SLURM_NTASKS_PER_NODE',
] as const;
/** Seconds between SIGTERM and SIGKILL when the launcher ends the steps of a dead worker. */
const REAP_GRACE_S = 2;
const MAX_RESTARTS = 3;
/** How long close() waits for the launcher to end its steps and exit before killing it. */
const CLOSE_KILL_MS = (REAP_GRACE_S + 8) * 1000;
const US = '\x1f';

export interface StepRunInfo {
  run: number;
  worker: string;
  /** Cores the worker gave the step (MAESTRO_CORES). */
  cores?: number;
  /** GPU ids the step got (CUDA_VISIBLE_DEVICES); undefined when the worker manages no GPUs. */
  gpuIds?: readonly string[] | undefined;
}

/** What the step's environment adds to the launcher's: the job's `env` and who it is. */
export function stepVariables(job: StepJob, info: StepRunInfo): Record<string, string> {
  return {
    ...job.env,
    MAESTRO_WORKSPACE: job.workspace,
    MAESTRO_STUDY_ID: job.studyId,
    MAESTRO_STEP: job.name,
    MAESTRO_STEP_INDEX: String(job.index),
    MAESTRO_ATTEMPT: String(job.attempt),
    MAESTRO_RUN: String(info.run),
    MAESTRO_WORKER: info.worker,
    ...(info.cores !== undefined ? { MAESTRO_CORES: String(info.cores) } : {}),
    ...(info.gpuIds !== undefined ? { CUDA_VISIBLE_DEVICES: info.gpuIds.join(',') } : {}),
  };
}

/** The worker's environment without what leads to the Redis password: the launcher's, and the steps' base. */
export function baseEnvironment(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  for (const k of WITHHELD_ENV) delete env[k];
  return env;
}

export interface StepExit {
  exitCode: number | null;
  signal: string | null;
  /**
   * The launcher's shell reports 128+N both for a step killed by signal N and for one that
   * exited with that status itself; a signal name read from such a status says so here.
   */
  fromStatus?: number;
  /** Set when the step could not be started at all. */
  spawnError?: string;
  /**
   * It ended, or was ended, and its exit status is lost; why, e.g. "its launcher died". It
   * happens when something from outside hits the worker's own processes: signals sent to the
   * whole worker (an allocation ending), or the launcher or a slot killed.
   */
  statusLost?: string;
  /**
   * The launcher found nothing of the step's process group left when it ended; undefined when
   * it could not tell (then whoever needs to know looks for itself).
   */
  groupEmpty?: boolean;
}

export interface SpawnStepOptions {
  interpreter: readonly string[];
  scriptPath: string;
  cwd: string;
  /** Added to the launcher's environment. */
  variables: Record<string, string>;
  stdoutPath: string;
  stderrPath: string;
  /**
   * Whether `cwd` may hold the output of an earlier run, to be kept as `.out.1`, ... (two file
   * checks per step). False for a workspace that was just created. @default true
   */
  mayHoldEarlierOutput?: boolean;
}

export interface SpawnedStep {
  /** The step's pid, which is also its process group id; undefined if it could not start. */
  started: Promise<number | undefined>;
  exited: Promise<StepExit>;
}

export interface StepLauncher {
  spawnStep(options: SpawnStepOptions): SpawnedStep;
  /** Ends the launcher (it kills any step still running) and waits for it. */
  close(): Promise<void>;
}

const SIGNAL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name]),
);

/** A shell's status: 128+N means killed by signal N. */
function exitOf(status: number): StepExit {
  if (status > 128 && SIGNAL_NAMES[status - 128])
    return { exitCode: null, signal: SIGNAL_NAMES[status - 128]!, fromStatus: status };
  return { exitCode: status, signal: null };
}

interface Pending {
  resolveStarted(pid: number | undefined): void;
  resolveExited(exit: StepExit): void;
  pid?: number;
  /** The launcher slot running it, once it has one. */
  slot?: number;
}

/**
 * Why `file` cannot be executed, or undefined if it can. The launcher would only report exit
 * status 127 for a missing interpreter; this names the file and the errno. Successes are cached.
 */
const runnable = new Set<string>();
function cannotExecute(file: string, env: Record<string, string>): string | undefined {
  if (runnable.has(file)) return undefined;
  const candidates = file.includes('/')
    ? [file]
    : (env['PATH'] ?? '')
        .split(':')
        .filter(Boolean)
        .map((d) => path.join(d, file));
  let reason = 'ENOENT (no such file or directory)';
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      runnable.add(file);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') reason = 'EACCES (permission denied)';
    }
  }
  return `cannot start ${file}: ${reason}`;
}

/**
 * Starts the launcher with `slots` slots: at most that many steps run at once (more requests
 * wait here for a slot to come free).
 */
export function startLauncher(log: Logger, slots: number, kind: LauncherKind = launcherKind()): StepLauncher {
  const launcher = new Launcher(log, slots, kind);
  launcher.launch();
  return launcher;
}

/**
 * The launcher process and its protocol: requests go out on one channel per slot (fd 3...),
 * events (`S` started, `E` exited, `L` status lost, `X` could not start) come back on its
 * stdout. A slot or the whole launcher may die under the worker (a scheduler ending the
 * allocation kills it too): the steps it ran are ended, and the launcher is started again.
 */
class Launcher implements StepLauncher {
  readonly #log: Logger;
  readonly #slots: number;
  readonly #kind: LauncherKind;
  readonly #setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  readonly #env = baseEnvironment();
  readonly #pending = new Map<string, Pending>();
  /** Request channels, by slot; a slot is free when no pending step holds it. */
  #channels: Duplex[] = [];
  #free: number[] = [];
  /** Slots of the current launcher that died. */
  readonly #dead = new Set<number>();
  /** Requests waiting for a free slot. */
  readonly #queued: { id: string; record: Buffer }[] = [];
  #nextId = 1;
  #closing = false;
  #restarts = 0;
  #child!: ResultPromise<Options>;

  constructor(log: Logger, slots: number, kind: LauncherKind) {
    this.#log = log;
    this.#slots = slots;
    this.#kind = kind;
  }

  spawnStep(o: SpawnStepOptions): SpawnedStep {
    let resolveStarted!: (pid: number | undefined) => void;
    let resolveExited!: (exit: StepExit) => void;
    const started = new Promise<number | undefined>((r) => (resolveStarted = r));
    const exited = new Promise<StepExit>((r) => (resolveExited = r));
    const missing = cannotExecute(o.interpreter[0] ?? '', this.#env);
    if (missing) {
      resolveStarted(undefined);
      resolveExited({ exitCode: null, signal: null, spawnError: missing });
      return { started, exited };
    }
    const vars = Object.entries(o.variables).map(([k, v]) => `${k}=${v}`);
    const keep = o.mayHoldEarlierOutput === false ? '0' : '1';
    const fields = [
      o.cwd,
      o.stdoutPath,
      o.stderrPath,
      keep,
      String(vars.length),
      ...vars,
      ...o.interpreter,
      o.scriptPath,
    ];
    const bad = fields.find((f) => f.includes('\0') || f.includes(US));
    if (bad !== undefined) {
      resolveStarted(undefined);
      resolveExited({
        exitCode: null,
        signal: null,
        spawnError: `cannot start the step: '${bad.slice(0, 80)}' holds a NUL or \\x1f character`,
      });
      return { started, exited };
    }
    const id = String(this.#nextId++);
    this.#pending.set(id, { resolveStarted, resolveExited });
    const record = Buffer.from(`R${US}${id}${US}${fields.join(US)}`);
    const slot = this.#free.pop();
    if (slot === undefined) this.#queued.push({ id, record });
    else this.#send(slot, id, record);
    return { started, exited };
  }

  async close(): Promise<void> {
    this.#closing = true;
    const current = this.#child;
    const exited = new Promise<void>((resolve) => {
      if (current.exitCode !== null || current.signalCode !== null) resolve();
      else current.once('exit', () => resolve());
    });
    current.stdin!.end();
    // It ends its steps (SIGTERM, SIGKILL after REAP_GRACE_S) and exits; one that does not is
    // killed, so that a worker never hangs on its way out. Its 'exit', not execa's promise:
    // that one also waits for every other holder of its stdout.
    const timer = setTimeout(() => {
      this.#log.warn({ pid: current.pid }, 'the step launcher did not exit; killing it');
      current.kill('SIGKILL');
    }, CLOSE_KILL_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Starts the launcher process (again, after one died) and listens to it. */
  launch(): void {
    const current = this.#spawn();
    let rest = '';
    const stdout = current.stdout!;
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) this.#onLine(line);
    });
    current.stdin!.on('error', () => undefined); // EPIPE after it died: handled on exit below
    this.#dead.clear();
    this.#channels = Array.from({ length: this.#slots }, (_, k) => {
      const channel = current.stdio[3 + k] as Duplex;
      // Only the slot holds the other end: its end of file (read, never written) or a failed
      // write means the slot died.
      channel.resume();
      channel.on('close', () => this.#slotDied(current, k));
      channel.on('error', () => this.#slotDied(current, k));
      return channel;
    });
    this.#free = Array.from({ length: this.#slots }, (_, k) => k);
    // On its exit, not on execa's promise: that waits for every holder of its stdout to close,
    // and the slot shells hold it as long as they live.
    current.once('exit', () => this.#onExit());
    this.#log.debug(
      {
        pid: current.pid,
        slots: this.#slots,
        kind: this.#kind,
        pdeathsig: this.#kind === 'compiled' || this.#setpriv !== undefined,
      },
      'step launcher started',
    );
  }

  /** Starts the launcher process, the current one from now on. */
  #spawn(): ResultPromise<Options> {
    const args = [String(process.pid), String(REAP_GRACE_S), String(this.#slots)];
    // The compiled one asks for its parent-death signal itself.
    const [file, argv] =
      this.#kind === 'compiled'
        ? [LAUNCHER_BINARY, args]
        : this.#setpriv
          ? [this.#setpriv, ['--pdeathsig', 'TERM', 'bash', LAUNCHER_SCRIPT, ...args]]
          : ['bash', [LAUNCHER_SCRIPT, ...args]];
    const child = execa(file, argv, {
      env: this.#env,
      extendEnv: false,
      // 0: the lifeline (never written), 1: events, 3...: one request channel per slot.
      stdio: ['pipe', 'pipe', 'ignore', ...Array.from({ length: this.#slots }, () => 'pipe' as const)],
      buffer: false,
      reject: false,
      cleanup: false,
      // setsid(): out of the worker's process group (see the header).
      detached: true,
      encoding: 'utf8',
    });
    this.#child = child;
    if (child.pid === undefined)
      throw new WorkerError(WorkerErrorCode.Reaper, `cannot start the step launcher (${file} ${argv.join(' ')})`);
    return child;
  }

  /** The launcher exited while the worker lives: its steps are lost, and it is started again. */
  #onExit(): void {
    for (const c of this.#channels) c.destroy();
    if (this.#closing) return;
    // Steps it started lost their reporter (a scheduler killing a whole allocation kills the
    // launcher too): ended, their status lost.
    // Requests never sent wait for the new launcher.
    const sent = [...this.#pending].filter(([, p]) => p.slot !== undefined);
    this.#log.error({ steps: sent.length, waiting: this.#queued.length }, 'the step launcher exited; restarting it');
    for (const [id, p] of sent) this.#lose(id, p, 'its launcher died');
    if (this.#restarts++ < MAX_RESTARTS) {
      this.launch();
      while (this.#queued.length > 0 && this.#free.length > 0) {
        const next = this.#queued.shift()!;
        this.#send(this.#free.pop()!, next.id, next.record);
      }
      return;
    }
    this.#log.error('the step launcher keeps exiting: no more steps can run');
    for (const { id } of this.#queued.splice(0)) {
      const p = this.#pending.get(id);
      if (p) this.#lose(id, p, 'its launcher keeps exiting');
    }
  }

  #send(slot: number, id: string, record: Buffer): void {
    const p = this.#pending.get(id);
    if (p) p.slot = slot;
    const header = Buffer.from(String(record.length).padStart(8, '0'));
    this.#channels[slot]!.write(Buffer.concat([header, record]));
  }

  #release(p: Pending): void {
    if (p.slot === undefined || this.#dead.has(p.slot)) return;
    const next = this.#queued.shift();
    if (next) this.#send(p.slot, next.id, next.record);
    else this.#free.push(p.slot);
  }

  /**
   * Ends a step whose reporter is gone: its group is killed and its status is lost (the worker
   * counts that as killed from outside: handed back while it stops, failed otherwise). One
   * never started fails to start.
   */
  #lose(id: string, p: Pending, why: string): void {
    this.#pending.delete(id);
    if (p.pid === undefined) {
      p.resolveStarted(undefined);
      p.resolveExited({ exitCode: null, signal: null, spawnError: `the step could not be started: ${why}` });
      return;
    }
    killGroup(p.pid);
    p.resolveStarted(p.pid);
    p.resolveExited({ exitCode: null, signal: null, statusLost: why });
  }

  /**
   * A slot shell that died (killed from outside; it never exits on its own while the worker
   * lives): its step is lost and ended, the others go on with one slot less; with none left
   * the launcher is started again.
   */
  #slotDied(of: ResultPromise<Options>, slot: number): void {
    if (this.#closing || of !== this.#child || this.#dead.has(slot)) return;
    if (this.#kind === 'compiled') {
      // Its slots are not processes: one channel closing means the launcher is gone. Nothing
      // more is sent to it; requests wait for the new one.
      for (let k = 0; k < this.#slots; k++) this.#dead.add(k);
      this.#free = [];
      for (const [id, p] of this.#pending) if (p.slot !== undefined) this.#lose(id, p, 'its launcher died');
      of.kill('SIGKILL');
      return;
    }
    this.#dead.add(slot);
    this.#free = this.#free.filter((k) => k !== slot);
    for (const [id, p] of this.#pending) if (p.slot === slot) this.#lose(id, p, 'its launcher slot died');
    this.#log.error({ slot, slotsLeft: this.#slots - this.#dead.size }, 'a step launcher slot died');
    if (this.#dead.size === this.#slots) of.kill('SIGKILL');
  }

  #onLine(line: string): void {
    const [event, id = '', value = '', left] = line.split(US);
    const p = this.#pending.get(id);
    if (!p) return;
    if (event === 'S') {
      p.pid = Number(value);
      p.resolveStarted(p.pid);
      return;
    }
    this.#pending.delete(id);
    this.#release(p);
    if (event === 'E') {
      const exit = exitOf(Number(value));
      if (left === '0') exit.groupEmpty = true;
      p.resolveExited(exit);
    } else if (event === 'L') {
      p.resolveExited({ exitCode: null, signal: null, statusLost: 'a signal reached its launcher as it ended' });
    } else if (event === 'X') {
      p.resolveStarted(undefined);
      p.resolveExited({ exitCode: null, signal: null, spawnError: value });
    }
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface CommandOutput {
  /** Undefined when the command could not be started or was killed (see `error`). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  error?: string;
}

/**
 * Runs a short command to its end (at most `timeoutMs`), stdin closed; never throws. For the
 * questions the worker asks its scheduler (`squeue`, `flux job timeleft`).
 */
export async function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<CommandOutput> {
  const r = await execa(file, args, { reject: false, stdin: 'ignore', timeout: timeoutMs, maxBuffer: 1024 * 1024 });
  const out = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (r.exitCode !== undefined) return { exitCode: r.exitCode, ...out };
  return {
    exitCode: undefined,
    ...out,
    error: r.timedOut ? `no answer within ${timeoutMs} ms` : describeSystemError(r.cause ?? r),
  };
}
