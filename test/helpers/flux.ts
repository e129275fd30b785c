/**
 * A Flux instance for a test: the real flux-core wherever it is installed (a `flux` on PATH, or
 * /opt/flux/bin/flux), run as `flux start --test-size=2` (two brokers on this machine: two
 * nodes); else the stand-in of test/fixtures/flux, which models one of the same size.
 * MAESTRO_TEST_FLUX=standin picks the stand-in even where Flux is installed; =real fails where
 * it is not.
 *
 * Every process started inside the world carries its marker in its environment, so that a test
 * that fails or aborts still leaves nothing running: stop() cancels every job, ends the
 * instance, and kills whatever still carries the marker (Flux leaves processes it exec'd
 * running when it goes down on a machine without cgroups).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './shared.js';
import { tempDir, waitFor } from './study.js';

const STANDIN = path.join(REPO_ROOT, 'test/fixtures/flux');

/**
 * The real flux command, if installed: flux-core's (another tool named flux does not count, nor
 * the stand-in's folder on PATH).
 */
export function realFlux(): string | undefined {
  const candidates = (process.env['PATH'] ?? '')
    .split(':')
    .filter((d) => d && path.resolve(d) !== STANDIN)
    .map((d) => path.join(d, 'flux'));
  return [...candidates, '/opt/flux/bin/flux'].find((f) => existsSync(f) && isFluxCore(f));
}

function isFluxCore(file: string): boolean {
  try {
    return /libflux-core/.test(execFileSync(file, ['version'], { encoding: 'utf8', timeout: 10_000 }));
  } catch {
    return false;
  }
}

/** Which Flux the tests run against. */
export function fluxKind(): 'real' | 'standin' {
  return (kind ??= chooseKind());
}
let kind: 'real' | 'standin' | undefined;

function chooseKind(): 'real' | 'standin' {
  const asked = process.env['MAESTRO_TEST_FLUX'];
  if (asked === 'standin') return 'standin';
  if (asked === 'real' && realFlux() === undefined) throw new Error('MAESTRO_TEST_FLUX=real, but no flux is installed');
  return realFlux() === undefined ? 'standin' : 'real';
}

export interface FluxJob {
  id: string;
  state: string;
  result: string;
}

/** A call the stand-in recorded. */
export interface FluxCall {
  argv: string[];
  instance: string;
  rank: number;
  jobId: string | null;
}

export interface FluxWorld {
  readonly kind: 'real' | 'standin';
  /** The environment of commands that talk to this instance (its flux first on PATH). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `flux ARGS` against it. */
  flux(args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** `flux jobs -a`, newest first. */
  jobs(): Promise<FluxJob[]>;
  /** What the stand-in recorded (calls, and calls it refused); undefined for real Flux. */
  calls(): FluxCall[] | undefined;
  violations(): unknown[] | undefined;
  /** Live processes started inside this world (its marker in their environment). */
  processes(): number[];
  stop(): Promise<void>;
}

// Not MAESTRO_*: maestro keeps its own variables out of what it submits.
const MARKER_VAR = 'TEST_FLUX_WORLD';

export async function startFluxWorld(): Promise<FluxWorld> {
  const kind = fluxKind();
  const dir = tempDir('maestro-flux-');
  const marker = randomUUID();
  let env: NodeJS.ProcessEnv;
  let instance: { pid: number; initPid: () => number | undefined } | undefined;
  if (kind === 'real') {
    const bin = path.dirname(realFlux()!);
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${bin}:${process.env['PATH'] ?? ''}`,
      [MARKER_VAR]: marker,
    };
    delete base['FLUX_URI'];
    // The instance lives as long as its initial program, which says where it listens.
    const start = spawn(
      path.join(bin, 'flux'),
      [
        'start',
        '--test-size=2',
        'bash',
        '-c',
        `echo "$FLUX_URI" > uri.tmp && mv uri.tmp uri; echo $$ > init.pid; exec sleep 100000`,
      ],
      { cwd: dir, env: base, detached: true, stdio: 'ignore' },
    );
    start.unref();
    const uri = await waitFor(
      () => existsSync(path.join(dir, 'uri')) && readFileSync(path.join(dir, 'uri'), 'utf8').trim(),
      60_000,
      'flux start --test-size=2 to come up',
    );
    env = { ...base, FLUX_URI: uri };
    instance = {
      pid: start.pid!,
      initPid: () => {
        const text = existsSync(path.join(dir, 'init.pid')) ? readFileSync(path.join(dir, 'init.pid'), 'utf8') : '';
        return /^\d+/.test(text) ? Number(text.trim()) : undefined;
      },
    };
  } else {
    env = {
      ...process.env,
      PATH: `${STANDIN}:${process.env['PATH'] ?? ''}`,
      FLUX_STANDIN_DIR: dir,
      [MARKER_VAR]: marker,
    };
    delete env['FLUX_URI'];
  }

  const flux = async (args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
    // In the world's folder: flux batch writes its flux-ID.out there, not in the test's cwd.
    const r = await execa('flux', args, { cwd: dir, env, reject: false, timeout: 60_000 });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const readLines = (file: string): unknown[] | undefined =>
    kind === 'real'
      ? undefined
      : existsSync(path.join(dir, file))
        ? readFileSync(path.join(dir, file), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as unknown)
        : [];
  const processes = (): number[] => processesWithEnv(`${MARKER_VAR}=${marker}`);

  return {
    kind,
    env,
    flux,
    async jobs() {
      const r = await flux(['jobs', '-a', '-n', '-o', '{id.f58} {state} {result}']);
      if (r.exitCode !== 0) throw new Error(`flux jobs failed: ${r.stderr}`);
      return r.stdout
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          const [id = '', state = '', result = ''] = l.trim().split(/\s+/);
          return { id, state, result };
        });
    },
    calls: () => readLines('calls.jsonl') as FluxCall[] | undefined,
    violations: () => readLines('violations.jsonl'),
    processes,
    async stop() {
      await flux(['cancel', '--all', '--quiet']).catch(() => undefined);
      if (instance) {
        // Its initial program ends: the instance cancels what is left and shuts down.
        const init = instance.initPid();
        if (init) signal(init, 'SIGTERM');
        const pid = instance.pid;
        await waitFor(() => !alive(pid), 30_000, 'flux start to exit').catch(() => signal(-pid, 'SIGKILL'));
      } else {
        await flux(['__teardown']);
      }
      for (const pid of processes()) signal(pid, 'SIGKILL');
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live processes whose environment holds `entry` (`NAME=value`). */
export function processesWithEnv(entry: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (!alive(Number(p))) continue;
      if (readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(entry)) out.push(Number(p));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** The flux id as the conductor keeps it (`f…`), whatever form was printed. */
export const fluxIdForm = (id: string): string => id.replace(/^ƒ/, 'f');
