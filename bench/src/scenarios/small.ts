/**
 * Small studies, as a user types them: `maestro run` with its defaults (its own redis-server,
 * local workers), timed from the command's start to its exit. Beside each, in the same repeat,
 * its ceiling: one bash process that, for each step in turn, makes the workspace, writes the
 * script and runs it (a chain can do no better, and 100 no-op steps barely better on 2 cores).
 *
 * Rows: a 1-step study's wall time, and the time from `maestro run` to its step running (the
 * step writes the clock); 100 independent no-op steps and a 50-link chain, each over its shell
 * loop (a cost ratio: lower is better); peak RSS of the conductor, read from /proc while the 100
 * steps run (its steps run in its own process, the default), and of each worker process while
 * the same study runs on two (`--local-workers 2`, as on a compute node); and the conductor's
 * peak RSS on 10,000 instances, both ways.
 *
 * Where a chain link's time goes: the chain runs once more against a Redis of the benchmark's
 * (`--redis`), whose records then give each link's gap (parent ended to child started, both on
 * the worker's clock) and each step's run as the worker saw it; and its wall time in three:
 * from `maestro run` to the first link running, the links (per link, beside the shell loop's
 * time per step), and from the last link's end to the command's exit.
 *
 * `--baseline DIR` measures another built checkout in the same repeats, alternating which goes
 * first, so that a machine that speeds up or slows down favours neither.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAESTRO, readStudy, runMaestro } from '../maestro-cli.js';
import { watchTree, type Role } from '../process-tree.js';
import { startBenchRedis, type BenchRedis } from '../redis-server.js';
import { median, type BenchContext } from '../rows.js';

const header = 'description: {name: small, description: small-study benchmark}\n';
const values = (n: number): string => Array.from({ length: n }, (_, k) => k).join(', ');

function oneStep(clockFile: string): string {
  // No `$(...)`: that is the spec's own parameter syntax.
  return `${header}study:\n  - {name: s, description: d, run: {cmd: "date +%s%N > ${clockFile}"}}\n`;
}

function independent(n: number): string {
  return `${header}study:\n  - {name: s, description: d, run: {cmd: "true $(N)"}}\nglobal.parameters:\n  N: {values: [${values(n)}], label: N.%%}\n`;
}

function chain(n: number): string {
  const steps = Array.from(
    { length: n },
    (_, k) => `  - {name: s${k}, description: d, run: {cmd: "true"${k ? `, depends: [s${k - 1}]` : ''}}}`,
  );
  return `${header}study:\n${steps.join('\n')}\n`;
}

const SHELL_LOOP = `root=$1; n=$2
for ((i = 0; i < n; i++)); do
  ws=$root/s/N.$i
  mkdir -p "$ws"
  printf '#!/bin/bash\\n\\ntrue\\n' > "$ws/s.sh"
  cd "$ws" && bash s.sh > s.out 2> s.err
done`;

/** Wall ms of the ceiling: one bash doing `n` steps' work in sequence. */
async function shellLoop(ctx: BenchContext, n: number): Promise<number> {
  const root = mkdtempSync(path.join(ctx.tmp, 'shell-loop-'));
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve) =>
    spawn('/bin/bash', ['-c', SHELL_LOOP, 'shell-loop', root, String(n)], { stdio: 'ignore' }).on('exit', resolve),
  );
  if (code !== 0) throw new Error(`the shell loop exited ${code}`);
  return performance.now() - t0;
}

interface Measured {
  wallMs: number;
  peaks: Map<Role, number[]>;
}

/** One `maestro run` of `spec` from `bin`, with its process tree watched for peak RSS. */
async function runStudy(
  ctx: BenchContext,
  name: string,
  spec: string,
  bin: string,
  extraArgs: readonly string[] = [],
): Promise<Measured & { root: string }> {
  const dir = mkdtempSync(path.join(ctx.tmp, `${name}-`));
  writeFileSync(path.join(dir, 'spec.yaml'), spec);
  const root = path.join(dir, 'study');
  const run = runMaestro(['run', 'spec.yaml', '-o', root, ...extraArgs], dir, bin);
  const tree = run.pid === undefined ? undefined : watchTree(run.pid, 20);
  const r = await run;
  const peaks = tree?.stop() ?? new Map<Role, number[]>();
  if (r.code !== 0) throw new Error(`maestro run (${name}) exited ${r.code}:\n${r.output.slice(-2000)}`);
  return { wallMs: r.wallMs, peaks, root };
}

/** Every measurement of one checkout, one entry per repeat. */
class Series {
  readonly oneStepMs: number[] = [];
  readonly firstStepMs: number[] = [];
  readonly independentRatio: number[] = [];
  readonly independentMs: number[] = [];
  readonly chainRatio: number[] = [];
  readonly chainMs: number[] = [];
  readonly workerPeakMiB: number[] = [];
  readonly conductorPeakMiB: number[] = [];
  readonly conductor10kPeakMiB: number[] = [];
  /** The same 10k study on two worker processes: the conductor alone. */
  readonly conductorAlone10kPeakMiB: number[] = [];
  readonly ceiling100Ms: number[] = [];
  readonly ceiling50Ms: number[] = [];
  /** Per link of the chain: gap (parent end to child start) and run, medians of one study each. */
  readonly linkGapMs: number[] = [];
  readonly linkRunMs: number[] = [];
  /** The traced chain's wall time in three: to its first link, its links (per link), after its last. */
  readonly beforeFirstMs: number[] = [];
  readonly perLinkMs: number[] = [];
  readonly afterLastMs: number[] = [];

  constructor(
    readonly label: string,
    readonly bin: string,
  ) {}
}

const INDEPENDENT = 100;
const CHAIN = 50;
const LARGE = 10_000;
/** Steps in two `maestro-worker` processes instead of the conductor's own. */
const TWO_WORKERS = ['--local-workers', '2'];

async function measureOnce(ctx: BenchContext, s: Series, redis: BenchRedis, large: boolean): Promise<void> {
  const dir = mkdtempSync(path.join(ctx.tmp, 'one-step-'));
  const clock = path.join(dir, 'started-ns');
  const startedAt = performance.timeOrigin + performance.now();
  const one = await runStudy(ctx, 'one-step', oneStep(clock), s.bin);
  s.oneStepMs.push(one.wallMs);
  s.firstStepMs.push(Number(BigInt(readFileSync(clock, 'utf8').trim()) / 1000n) / 1000 - startedAt);

  // Each study beside its own ceiling, measured right after it.
  const many = await runStudy(ctx, 'independent', independent(INDEPENDENT), s.bin);
  const ceiling100 = await shellLoop(ctx, INDEPENDENT);
  s.independentMs.push(many.wallMs);
  s.ceiling100Ms.push(ceiling100);
  s.independentRatio.push(many.wallMs / ceiling100);
  s.conductorPeakMiB.push(Math.max(...(many.peaks.get('conductor') ?? [0])));
  const onProcesses = await runStudy(ctx, 'independent-workers', independent(INDEPENDENT), s.bin, TWO_WORKERS);
  s.workerPeakMiB.push(Math.max(...(onProcesses.peaks.get('worker') ?? [0])));

  const links = await runStudy(ctx, 'chain', chain(CHAIN), s.bin);
  const ceiling50 = await shellLoop(ctx, CHAIN);
  s.chainMs.push(links.wallMs);
  s.ceiling50Ms.push(ceiling50);
  s.chainRatio.push(links.wallMs / ceiling50);

  const prefix = `b${Math.random().toString(36).slice(2, 8)}`;
  const tracedAt = performance.timeOrigin + performance.now();
  const traced = await runStudy(ctx, 'chain-traced', chain(CHAIN), s.bin, ['--redis', redis.url, '--prefix', prefix]);
  const client = redis.client();
  const { records } = await readStudy(client, prefix, traced.root);
  client.disconnect();
  s.linkGapMs.push(median(records.slice(1).map((r, k) => r.startMs - records[k]!.endMs)));
  s.linkRunMs.push(median(records.map((r) => r.endMs - r.startMs)));
  const first = records[0]!;
  const last = records.at(-1)!;
  s.beforeFirstMs.push(first.startMs - tracedAt);
  s.perLinkMs.push((last.endMs - first.startMs) / records.length);
  s.afterLastMs.push(tracedAt + traced.wallMs - last.endMs);

  if (large) {
    const big = await runStudy(ctx, 'large', independent(LARGE), s.bin);
    s.conductor10kPeakMiB.push(Math.max(...(big.peaks.get('conductor') ?? [0])));
    const alone = await runStudy(ctx, 'large-workers', independent(LARGE), s.bin, TWO_WORKERS);
    s.conductorAlone10kPeakMiB.push(Math.max(...(alone.peaks.get('conductor') ?? [0])));
  }
}

export async function small(ctx: BenchContext): Promise<void> {
  const repeats = ctx.quick ? 3 : 5;
  const series = [new Series('', MAESTRO)];
  if (ctx.baseline) series.push(new Series(' (baseline)', path.join(ctx.baseline, 'apps/conductor/bin/maestro.js')));
  const redis = await startBenchRedis();
  try {
    for (let k = 0; k < repeats; k++) {
      const order = k % 2 === 0 ? series : [...series].reverse();
      // The 10k study takes most of a repeat's time: a few of them are enough for a peak.
      for (const s of order) await measureOnce(ctx, s, redis, k < (ctx.quick ? 1 : 3));
    }
  } finally {
    await redis.stop();
  }
  for (const s of series) report(ctx, s);
}

function report(ctx: BenchContext, s: Series): void {
  const ms = (x: number): number => Math.round(x);
  const row = (scenario: string, metric: string, value: number, unit: string, extra = {}): void =>
    ctx.report({ scenario: `${scenario}${s.label}`, metric, value, unit, ...extra });
  row('1-step study', 'wall time', ms(median(s.oneStepMs)), 'ms');
  row('1-step study', 'to first step running', ms(median(s.firstStepMs)), 'ms', { target: '< 300 ms' });
  row(`${INDEPENDENT} independent no-op steps`, 'wall time', ms(median(s.independentMs)), 'ms', {
    ceiling: ms(median(s.ceiling100Ms)),
    ratio: median(s.independentRatio),
    target: '<= 1.5x shell loop',
  });
  row(`chain of ${CHAIN} no-op steps`, 'wall time', ms(median(s.chainMs)), 'ms', {
    ceiling: ms(median(s.ceiling50Ms)),
    ratio: median(s.chainRatio),
    target: '<= 3x shell loop',
  });
  // The chain run against the benchmark's Redis, its wall time in three, beside the shell loop's
  // time per step.
  const chainRow = (metric: string, values: number[], extra = {}): void =>
    row(`chain of ${CHAIN} (--redis)`, metric, round2(median(values)), 'ms', extra);
  chainRow('to first link running', s.beforeFirstMs);
  chainRow('per link, first to last', s.perLinkMs, { ceiling: round2(median(s.ceiling50Ms) / CHAIN) });
  chainRow('after last link ended', s.afterLastMs);
  chainRow('link gap (median)', s.linkGapMs);
  chainRow('step run (median)', s.linkRunMs);
  row(`${INDEPENDENT} independent no-op steps`, 'worker process peak RSS', ms(median(s.workerPeakMiB)), 'MiB', {
    target: '< 80 MiB',
  });
  row(`${INDEPENDENT} independent no-op steps`, 'conductor peak RSS', ms(median(s.conductorPeakMiB)), 'MiB');
  row('10k independent no-op steps', 'conductor peak RSS, alone', ms(median(s.conductorAlone10kPeakMiB)), 'MiB', {
    target: '< 100 MiB',
  });
  row('10k independent no-op steps', 'conductor peak RSS, steps in it', ms(median(s.conductor10kPeakMiB)), 'MiB');
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
