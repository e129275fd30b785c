/**
 * Where the CPU of a real no-op step goes: `maestro run` on independent `true` steps with local
 * workers, its processes sampled from /proc while it runs (user + system time, last value seen
 * per process), against the CPU of the bare loop on as many steps. Linux only (/proc).
 *
 * - conductor: the `maestro run` process;
 * - worker: the `maestro-worker` processes;
 * - launcher: the workers' step launchers: the compiled one (dist/maestro-launcher), or the
 *   script and its slot shells (scripts/launcher.sh, with MAESTRO_LAUNCHER=script);
 * - steps: what the launchers reaped (the steps' own bash, and anything they ran);
 * - redis: the Redis server of the run.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChild } from '../child-process.js';
import { runMaestro } from '../maestro-cli.js';
import { startBenchRedis } from '../redis-server.js';
import type { BenchContext } from '../rows.js';

const WORKERS = Math.max(1, os.cpus().length);
const SLOTS = 4;
/** Clock ticks per second of /proc times (USER_HZ): 100 on every Linux that matters. */
const TICKS_PER_S = 100;
const SAMPLE_MS = 100;

interface ProcTimes {
  ppid: number;
  /** utime + stime, and the same of reaped children (cutime + cstime), in ticks. */
  own: number;
  children: number;
  cmdline: string;
}

function readProc(pid: string): ProcTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid ...`: comm may hold spaces; fields count from after ") ".
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]), cmdline };
  } catch {
    return undefined; // gone while we looked
  }
}

/** Busy ticks of the whole machine (user, nice, system, irq, softirq). */
function machineTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
}

function independent(n: number): string {
  const values = Array.from({ length: n }, (_, k) => k).join(', ');
  return `description: {name: cpu, description: where a no-op step's CPU goes}
study:
  - {name: s, description: d, run: {cmd: "true $(N)"}}
global.parameters:
  N: {values: [${values}], label: N.%%}
`;
}

export async function cpu(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 1_000 : 4_000;
  const scenario = `CPU of a no-op step (${n / 1000}k steps)`;
  const redis = await startBenchRedis();
  const last = new Map<number, ProcTimes>();
  let conductorPid: number | undefined;
  const sample = (): void => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const t = readProc(pid);
      if (t) last.set(Number(pid), t);
    }
  };
  const dir = mkdtempSync(path.join(ctx.tmp, 'cpu-'));
  writeFileSync(path.join(dir, 'spec.yaml'), independent(n));
  const machineBefore = machineTicks();
  const timer = setInterval(sample, SAMPLE_MS);
  try {
    const run = runMaestro(
      [
        'run',
        'spec.yaml',
        '-o',
        path.join(dir, 'study'),
        '--redis',
        redis.url,
        '--local-workers',
        String(WORKERS),
        '--worker-concurrency',
        String(SLOTS),
      ],
      dir,
    );
    conductorPid = run.pid;
    const r = await run;
    sample();
    if (r.code !== 0) throw new Error(`maestro run exited ${r.code}:\n${r.output.slice(-2000)}`);
  } finally {
    clearInterval(timer);
  }
  const machine = machineTicks() - machineBefore;

  const isWorker = (t: ProcTimes): boolean => t.cmdline.includes('maestro-worker');
  const isCompiled = (t: ProcTimes): boolean => t.cmdline.includes('maestro-launcher');
  const isLauncher = (t: ProcTimes): boolean => t.cmdline.includes('launcher.sh') || isCompiled(t);
  const ticks = { conductor: 0, worker: 0, launcher: 0, steps: 0, redis: 0 };
  for (const [pid, t] of last) {
    const parent = last.get(t.ppid);
    if (pid === conductorPid) ticks.conductor += t.own;
    else if (pid === redis.process.pid) ticks.redis += t.own;
    else if (isWorker(t) && !isLauncher(t)) ticks.worker += t.own;
    else if (isLauncher(t) && parent && isWorker(parent)) {
      ticks.launcher += t.own;
      if (isCompiled(t)) ticks.steps += t.children; // it reaps the steps itself
    } else if (isLauncher(t) && parent && isLauncher(parent) && isWorker(last.get(parent.ppid) ?? parent)) {
      // A slot shell: its own time, and the steps it reaped.
      ticks.launcher += t.own;
      ticks.steps += t.children;
    }
  }
  await redis.stop();
  // Seen once in a full run (not reproduced alone): no worker found among the samples. A row of
  // zeros would read as a measurement; refuse it instead.
  if (ticks.worker === 0 || ticks.steps === 0)
    throw new Error(`cpu: no maestro-worker or step was seen in /proc (${last.size} processes sampled)`);
  const perStep = (t: number): number => Math.round(((t / TICKS_PER_S) * 1000 * 100) / n) / 100;
  for (const [metric, t] of Object.entries(ticks)) ctx.report({ scenario, metric, value: perStep(t), unit: 'ms' });
  ctx.report({ scenario, metric: 'whole machine', value: perStep(machine), unit: 'ms' });

  // The bare loop on as many steps, as many processes and slots: what the same work costs alone.
  const root = mkdtempSync(path.join(ctx.tmp, 'cpu-bare-'));
  const per = Math.ceil(n / WORKERS);
  const bareBefore = machineTicks();
  await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      runChild('bare-loop', [root, String(per), String(SLOTS), String(w * per)]),
    ),
  );
  ctx.report({
    scenario,
    metric: 'bare loop, whole machine',
    value: perStep(machineTicks() - bareBefore),
    unit: 'ms',
  });
}
