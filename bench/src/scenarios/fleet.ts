/**
 * Many workers on one Redis (issue #24): 500, 1,000 and 4,000 simulated workers, each a real
 * worker (startWorker: its connections, BullMQ Worker, heartbeat, control subscription), a few
 * hundred to a Node process as on a node (children/fleet-node.ts), running simulated steps that
 * last STEP_MS so that steps are in flight (locks renewed, starts announced) as real ones are.
 *
 * Measured from Redis itself (INFO commandstats and clients), not wall time, since the fleet
 * shares two cores with Redis and the conductor:
 * - idle: commands per second with every worker connected and nothing queued, per worker;
 * - connections per worker;
 * - busy: commands per step over the study, less the idle traffic of the same time;
 * - ready-to-start latency: from the job's queuing by the conductor (BullMQ's job timestamp) to
 *   the step's start in a worker, median and p99;
 * - the study finishes with every instance FINISHED, on its first attempt, started once.
 *
 * Runs only when asked (`--only fleet`): the 4,000-worker run alone takes several minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { countedStudy, readStudy, runMaestro, writeCountedStudy, type MaestroRun } from '../maestro-cli.js';
import type { Redis } from 'ioredis';
import { clientsNeeded, REDIS_RESERVED_FDS } from '@maestro/protocol';
import { startBenchRedis } from '../redis-server.js';
import { median, type BenchContext } from '../rows.js';

interface FleetSize {
  workers: number;
  steps: number;
  stepMs: number;
}
/**
 * The simulated workers' lock: 60 s, renewed every 30 s, where a real worker's is 10 s, renewed
 * every 5 s. Hundreds of workers share each process and two cores here, so a burst of thousands
 * of deliveries takes the fleet's processes longer than 10 s to claim: with the real lock, most
 * deliveries of a 1,000-worker study lapsed before their claim and were delivered again (the
 * fence ran each step once, but one job stalled past BullMQ's limit and failed). On a real node
 * a worker claims its few steps in milliseconds. Lock renewal traffic is therefore measured
 * apart, per held step (scenario `lock renewal`).
 */
const LOCK_MS = 60_000;
/** 4,000 × 9 = 36,000 steps in flight at most, as in the MuMMI campaign's 36,000 tasks. */
const CONCURRENCY = 9;
const SIZES: readonly FleetSize[] = [
  { workers: 500, steps: 20_000, stepMs: 10_000 },
  { workers: 1_000, steps: 30_000, stepMs: 10_000 },
  // Steps long enough for 36,000 to be in flight at the few hundred steps/s two cores turn over.
  { workers: 4_000, steps: 200_000, stepMs: 60_000 },
];
const QUICK_SIZES: readonly FleetSize[] = [{ workers: 500, steps: 10_000, stepMs: 5_000 }];
/** Workers in one simulating process: a node's worth and then some. */
const WORKERS_PER_PROCESS = 500;
/** Idle traffic is measured over this long, after the fleet has settled for IDLE_SETTLE_MS. */
const IDLE_MEASURE_MS = 20_000;
const IDLE_SETTLE_MS = 6_000;

const FLEET_NODE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'children', 'fleet-node.js');

/** A counted study of `steps` run on the fleet's workers only (none local), one step a job. */
function runFleetStudy(dir: string, root: string, steps: number, redisUrl: string, extra: string[] = []): MaestroRun {
  const args = ['run', ...countedStudy(steps), '-o', root, '--redis', redisUrl, '--local-workers', '0'];
  return runMaestro([...args, '--bundle', '1', ...extra], dir);
}

export async function fleet(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(path.join(ctx.tmp, 'fleet-'));
  writeCountedStudy(dir, 'fleet', 'short simulated steps on many workers');
  if (!process.env['MAESTRO_BENCH_FLEET']) await lockRenewal(ctx, dir);
  // MAESTRO_BENCH_FLEET=4000 (or 500,1000): only those fleets, and no held-steps row.
  const only = process.env['MAESTRO_BENCH_FLEET']?.split(',').map(Number);
  const sizes = (ctx.quick ? QUICK_SIZES : SIZES).filter((x) => !only || only.includes(x.workers));
  for (const size of sizes) await runFleet(ctx, dir, size);
}

/** Workers of the lock-renewal measurement, each holding CONCURRENCY steps with the real lock. */
const HOLDING_WORKERS = 100;
/** The held steps last this long: claimed, announced, then only their locks are renewed. */
const HOLD_MS = 60_000;

/**
 * What a held step costs Redis with the workers' real lock (10 s, renewed every 5 s): 100
 * workers take 900 steps that last a minute, and Redis's commands are counted over 20 s once
 * all are claimed, less the idle fleet's, per step and per busy worker.
 */
async function lockRenewal(ctx: BenchContext, dir: string): Promise<void> {
  const scenario = 'held steps, real lock (10 s)';
  const redis = await startBenchRedis();
  const probe = redis.client();
  const node = await startNode(redis.url, HOLDING_WORKERS, HOLD_MS, 'hold', 0);
  const steps = HOLDING_WORKERS * CONCURRENCY;
  let run: ReturnType<typeof runMaestro> | undefined;
  try {
    await sleep(IDLE_SETTLE_MS);
    let t0 = performance.now();
    let calls0 = await commandCalls(probe);
    await sleep(IDLE_MEASURE_MS);
    const idleRate = total(callsBetween(calls0, await commandCalls(probe))) / ((performance.now() - t0) / 1000);
    run = runFleetStudy(dir, path.join(dir, 'hold'), steps, redis.url);
    // Every step held, and a little more for the starts to be announced.
    while ((await probe.llen('maestro:steps:active')) < steps) await sleep(200);
    await sleep(2_000);
    t0 = performance.now();
    calls0 = await commandCalls(probe);
    await sleep(IDLE_MEASURE_MS);
    const held = callsBetween(calls0, await commandCalls(probe));
    const seconds = (performance.now() - t0) / 1000;
    const extra = total(held) / seconds - idleRate;
    console.log(`  ${scenario}: ${topCommands(held, seconds)}`);
    ctx.report({ scenario, metric: 'commands / held step', value: Number((extra / steps).toFixed(2)), unit: 'cmd/s' });
    ctx.report({
      scenario,
      metric: 'commands / busy worker',
      value: Number((extra / HOLDING_WORKERS).toFixed(2)),
      unit: 'cmd/s',
      target: `${CONCURRENCY} steps each`,
    });
  } finally {
    node.report.catch(() => undefined); // killed: no report wanted
    run?.kill('SIGKILL');
    node.child.kill('SIGKILL');
    await run;
    await redis.stop();
  }
}

interface NodeReport {
  starts: number;
  waitsMs: number[];
  rssMiB: number;
}

/** Redis's command counts (INFO commandstats), by command. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

function callsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [cmd, n] of after) delta.set(cmd, n - (before.get(cmd) ?? 0));
  return delta;
}

const total = (calls: Map<string, number>): number => [...calls.values()].reduce((a, b) => a + b, 0);

/** The commands that make up most of `calls`, as `name n/s` for the console. */
function topCommands(calls: Map<string, number>, seconds: number): string {
  return [...calls]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([cmd, n]) => `${cmd} ${(n / seconds).toFixed(0)}/s`)
    .join(', ');
}

/**
 * Raises a process's scheduling priority where allowed (root): on a real cluster Redis and the
 * conductor have cores of their own, here they share two with thousands of simulated workers, and
 * a 4,000-worker run left Redis answering a PING in over 2 s until it was reniced.
 */
function prioritize(pid: number | undefined, priority: number): void {
  try {
    if (pid !== undefined) os.setPriority(pid, priority);
  } catch {
    // not root: the run is slower, its command counts the same
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

/** Starts one simulating process; resolves once its workers are all started. */
function startNode(
  url: string,
  count: number,
  stepMs: number,
  name: string,
  lockMs = LOCK_MS,
): Promise<{ child: ChildProcess; report: Promise<NodeReport> }> {
  const args = [url, String(count), String(CONCURRENCY), String(stepMs), String(lockMs), name];
  const child = spawn(process.execPath, [FLEET_NODE, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void;
  let failed: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((onReady = resolve), (failed = reject)));
  const report = new Promise<NodeReport>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"ready"')) onReady();
    });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.includes('"starts"')) {
        const err = new Error(`fleet node ${name} exited with ${code}: ${out.slice(-300)}`);
        failed(err);
        return reject(err);
      }
      resolve(JSON.parse(last) as NodeReport);
    });
  });
  return ready.then(() => ({ child, report }));
}

async function runFleet(ctx: BenchContext, dir: string, size: FleetSize): Promise<void> {
  const { workers, steps, stepMs } = size;
  const scenario = `fleet of ${workers.toLocaleString('en-US')} workers`;
  // Three connections a worker, the conductor's and ours. redis-server lowers maxclients by
  // itself to fit its open-file limit (inherited from this process): say so rather than let
  // the workers be refused one by one.
  const maxclients = clientsNeeded(workers);
  const redis = await startBenchRedis({ args: ['--maxclients', String(maxclients)] });
  const probe = redis.client();
  prioritize(redis.process.pid, -10);
  const [, granted] = (await probe.config('GET', 'maxclients')) as [string, string];
  if (Number(granted) < maxclients) {
    await redis.stop();
    throw new Error(
      `redis-server allows ${granted} clients where ${workers} workers need ${maxclients}: raise the open-file limit (ulimit -n ${maxclients + REDIS_RESERVED_FDS} or more) and run again`,
    );
  }
  const started = performance.now();
  const processes = Math.max(2, Math.ceil(workers / WORKERS_PER_PROCESS));
  const nodes = await Promise.all(
    Array.from({ length: processes }, (_, k) => {
      const count = Math.floor(workers / processes) + (k < workers % processes ? 1 : 0);
      return startNode(redis.url, count, stepMs, `n${k}`);
    }),
  );
  const startS = (performance.now() - started) / 1000;
  try {
    await sleep(IDLE_SETTLE_MS);
    const idle0 = await commandCalls(probe);
    const t0 = performance.now();
    await sleep(IDLE_MEASURE_MS);
    const idle = callsBetween(idle0, await commandCalls(probe));
    const idleS = (performance.now() - t0) / 1000;
    const idleRate = total(idle) / idleS;
    const clients = Number(/connected_clients:(\d+)/.exec(await probe.info('clients'))?.[1] ?? 0);
    console.log(`  ${scenario}: started in ${startS.toFixed(0)} s; idle: ${topCommands(idle, idleS)}`);

    const root = path.join(dir, `study-${workers}`);
    const busy0 = await commandCalls(probe);
    const s0 = performance.now();
    const run = runFleetStudy(dir, root, steps, redis.url, [
      // As many queued or running as the fleet has slots: the latency measured is the
      // dispatch's, not that of a backlog waiting for slots.
      '--throttle',
      String(workers * CONCURRENCY),
      '--window',
      String(workers * CONCURRENCY),
      '--max-instances',
      String(steps),
    ]);
    let peakActive = 0;
    const sampling = (async () => {
      for (let done = false; !done;) {
        // A sample Redis cannot answer (BUSY while a script runs) is skipped, not fatal.
        peakActive = Math.max(peakActive, await probe.llen('maestro:steps:active').catch(() => 0));
        done = await Promise.race([run.then(() => true), sleep(500).then(() => false)]);
      }
    })();
    prioritize(run.pid, -5);
    const r = await run;
    await sampling;
    const busyS = (performance.now() - s0) / 1000;
    if (r.code !== 0) throw new Error(`fleet study exited ${r.code}:\n${r.output.slice(-2000)}`);
    const busy = callsBetween(busy0, await commandCalls(probe));
    console.log(`  ${scenario}: study in ${busyS.toFixed(0)} s; busy: ${topCommands(busy, busyS)}`);
    const study = await readStudy(probe, 'maestro', root);
    for (const n of nodes) n.child.kill('SIGTERM');
    const reports = await Promise.all(nodes.map((n) => n.report));
    const waits = reports.flatMap((x) => x.waitsMs).sort((a, b) => a - b);
    const starts = reports.reduce((a, x) => a + x.starts, 0);
    const finished = study.records.filter((x) => x.state === 5).length;
    const firstAttempt = study.records.filter((x) => x.attempt === 1).length;
    const perStep = (total(busy) - idleRate * busyS) / steps;
    const row = (metric: string, value: number, unit: string, target?: string): void =>
      ctx.report({ scenario, metric, value, unit, ...(target ? { target } : {}) });
    row('idle commands', Math.round(idleRate), 'cmd/s');
    row('idle commands / worker', Number((idleRate / workers).toFixed(2)), 'cmd/s');
    row('connections / worker', Number((clients / workers).toFixed(2)), 'conns');
    row('commands / step (net)', Number(perStep.toFixed(1)), 'cmd');
    row('busy commands', Math.round(total(busy) / busyS), 'cmd/s');
    row('ready-to-start median', Math.round(median(waits)), 'ms');
    row('ready-to-start p99', Math.round(percentile(waits, 0.99)), 'ms');
    row('peak steps in flight', peakActive, 'steps', `${(workers * CONCURRENCY).toLocaleString('en-US')} slots`);
    row('study wall time', Math.round(busyS), 's');
    row('throughput', Math.round(steps / busyS), 'steps/s');
    row('fleet RSS / worker', Number((reports.reduce((a, x) => a + x.rssMiB, 0) / workers).toFixed(2)), 'MiB');
    row('lost or run twice', steps - finished + Math.abs(starts - steps) + (steps - firstAttempt), 'steps', '0');
  } finally {
    for (const n of nodes) {
      n.report.catch(() => undefined); // killed after a failure: its report is not wanted
      n.child.kill('SIGKILL');
    }
    await redis.stop();
  }
}
