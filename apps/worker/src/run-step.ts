/**
 * Starting processes: the only module that imports execa. Steps (spawnStep), and the short
 * questions the worker asks its scheduler (runCommand: `squeue`, `flux job timeleft`).
 *
 * The step runs `<interpreter...> <script>` in its workspace, leading its own process group
 * (`detached`), stdin closed, stdout and stderr written by the step itself straight into its
 * `.out` / `.err` files (file descriptors, never a pipe through the worker: nothing is buffered
 * here, and a frozen or busy worker never blocks a step's output).
 */
import { execa } from 'execa';
import type { StepJob } from '@maestro/protocol';
import { describeSystemError } from './errors.js';

/**
 * Variables never passed to a step: those that lead to the Redis password, and the tasks per node
 * of the worker's own `srun` (a step's `srun -n P -N N` would warn that it cannot honour it).
 */
const WITHHELD_ENV = ['MAESTRO_REDIS_URL', 'MAESTRO_REDIS_PASSWORD_FILE', 'SLURM_NTASKS_PER_NODE'] as const;

export interface StepRunInfo {
  run: number;
  worker: string;
  /** Cores the worker gave the step (MAESTRO_CORES). */
  cores?: number;
  /** GPU ids the step got (CUDA_VISIBLE_DEVICES); undefined when the worker manages no GPUs. */
  gpuIds?: readonly string[] | undefined;
}

/**
 * The step's environment: the worker's own, minus what leads to the Redis password, plus the
 * job's `env`, plus what tells the step where and what it is (these win).
 */
export function stepEnvironment(
  job: StepJob,
  info: StepRunInfo,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  for (const k of WITHHELD_ENV) delete env[k];
  Object.assign(env, job.env, {
    MAESTRO_WORKSPACE: job.workspace,
    MAESTRO_STUDY_ID: job.studyId,
    MAESTRO_STEP: job.name,
    MAESTRO_STEP_INDEX: String(job.index),
    MAESTRO_ATTEMPT: String(job.attempt),
    MAESTRO_RUN: String(info.run),
    MAESTRO_WORKER: info.worker,
  });
  if (info.cores !== undefined) env['MAESTRO_CORES'] = String(info.cores);
  if (info.gpuIds !== undefined) env['CUDA_VISIBLE_DEVICES'] = info.gpuIds.join(',');
  return env;
}

export interface StepExit {
  exitCode: number | null;
  signal: string | null;
  /** Set when the interpreter could not be started at all. */
  spawnError?: string;
}

export interface SpawnedStep {
  /** Pid of the step's leader, which is also its process group id; undefined if spawn failed. */
  pid: number | undefined;
  exited: Promise<StepExit>;
}

export interface SpawnStepOptions {
  interpreter: readonly string[];
  scriptPath: string;
  cwd: string;
  env: Record<string, string>;
  stdoutFd: number;
  stderrFd: number;
}

/** Starts the step. The caller may close the two fds as soon as this returns. */
export function spawnStep(options: SpawnStepOptions): SpawnedStep {
  const [file, ...args] = options.interpreter;
  const subprocess = execa(file!, [...args, options.scriptPath], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    stdin: 'ignore',
    // Any open fd number works (execa passes it to spawn as is); its types only list 3-9.
    stdout: options.stdoutFd as 3,
    stderr: options.stderrFd as 3,
    detached: true,
    reject: false,
    // The worker kills the whole group itself (walltime, cancel, shutdown); execa's own
    // cleanup would only reach the leader.
    cleanup: false,
    buffer: false,
  });
  const exited = subprocess.then((result): StepExit => {
    if (result.failed && result.exitCode === undefined && result.signal === undefined) {
      return {
        exitCode: null,
        signal: null,
        spawnError: `cannot start ${file}: ${describeSystemError(result.cause ?? result)}`,
      };
    }
    return { exitCode: result.exitCode ?? null, signal: result.signal ?? null };
  });
  return { pid: subprocess.pid, exited };
}

export interface CommandOutput {
  /** Undefined when the command could not be started or was killed (see `error`). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  error?: string;
}

/** Runs a short command to its end (at most `timeoutMs`), stdin closed; never throws. */
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
