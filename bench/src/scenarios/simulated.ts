/**
 * The conductor and Redis measured alone: studies run by `maestro-worker --simulate` workers,
 * which claim and report each step through the real path without spawning anything.
 * - a 1,000,000-instance study (100,000 with --quick): time, conductor CPU per step, conductor
 *   peak RSS, Redis peak memory; every instance FINISHED, on its first attempt, run once;
 * - the same with one Merlin sample step of 1,000,000 samples (100,000 with --quick), read from a
 *   .npy file: it must stay within the plain study's bounds, since sample instances are computed
 *   from (combination, sample) and not stored;
 * - with --huge, a sample step of 10,000,000 (about an hour on 2 busy cores): the conductor under
 *   1.5 GiB and Redis under 1 GiB (docs/performance.md, "Memory per instance");
 * - Redis memory per queued step;
 * - the ceiling: bare BullMQ no-op jobs in the same run.
 */
import { readFileSync, readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StudyRecordField as F } from '@maestro/protocol';
import { Queue } from 'bullmq';
import { runChild } from '../child-process.js';
import { countedStudy, runMaestro, tallyStudy, writeCountedStudy } from '../maestro-cli.js';
import { startBenchRedis } from '../redis-server.js';
import type { BenchContext } from '../rows.js';

const WORKERS = Math.max(1, os.cpus().length);

/** One step run once per sample of `samples.npy` (written by {@link writeSamples}). */
const SAMPLES_SPEC = `description: {name: sampled, description: a Merlin sample step of no-op steps run by simulating workers}
study:
  - {name: s, description: d, run: {cmd: "true $(X) $(MERLIN_SAMPLE_ID)"}}
merlin:
  samples:
    file: $(SPECROOT)/samples.npy
    column_labels: [X]
`;

/** A float64 .npy of `n` rows, one column (0, 1, 2, ...), as numpy.save writes it. */
function writeSamples(file: string, n: number): void {
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${n}, 1), }`;
  header = header.padEnd(Math.ceil((11 + header.length) / 64) * 64 - 11, ' ') + '\n';
  const head = Buffer.alloc(10 + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, 'latin1');
  const data = Float64Array.from({ length: n }, (_, i) => i);
  writeFileSync(file, Buffer.concat([head, Buffer.from(data.buffer)]));
}

/**
 * What the workers' logs say they did: runs reported in all (`done` as each stopped), and the
 * bundle members sent back unstarted among them (a bundle past its time budget hands its rest
 * back to run apart, as a new attempt): those ran nothing, so they are neither a run nor a retry.
 */
function runsReported(root: string): { runs: number; sentBack: number; sentBackInstances: number } {
  const dir = path.join(root, 'meta/logs');
  let runs = 0;
  let sentBack = 0;
  const instances = new Set<number>();
  for (const f of readdirSync(dir)) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.includes('"worker stopped"')) runs += Number((JSON.parse(line) as { done?: number }).done ?? 0);
      else if (line.includes('"step finished"') && line.includes('not started: its bundle')) {
        sentBack++;
        instances.add((JSON.parse(line) as { index: number }).index);
      }
    }
  }
  return { runs, sentBack, sentBackInstances: instances.size };
}

export async function simulated(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(path.join(ctx.tmp, 'simulated-'));
  writeCountedStudy(dir, 'simulated', 'a study of no-op steps run by simulating workers');

  // Redis memory per queued step: the window filled, no worker.
  {
    const redis = await startBenchRedis();
    const before = await redis.usedMemory();
    const queued = 10_000;
    const run = runMaestro(
      [
        'run',
        ...countedStudy(queued),
        '-o',
        path.join(dir, 'queued'),
        '--redis',
        redis.url,
        '--local-workers',
        '0',
        '--window',
        String(queued),
      ],
      dir,
    );
    const queue = new Queue('steps', { connection: redis.client(), prefix: 'maestro' });
    for (let k = 0; k < 600 && (await queue.getWaitingCount()) < queued; k++)
      await new Promise((r) => setTimeout(r, 100));
    const waiting = await queue.getWaitingCount();
    const after = await redis.usedMemory();
    await queue.close();
    run.kill('SIGINT'); // no worker will ever come: stop the conductor (the study stays resumable)
    await run;
    await redis.stop();
    if (waiting < queued) throw new Error(`only ${waiting} of ${queued} steps were queued`);
    ctx.report({
      scenario: 'Redis memory per queued step',
      metric: 'memory',
      value: Math.round((after - before) / queued),
      unit: 'B',
      target: 'bare BullMQ ~670 B',
    });
  }

  // The ceiling: bare BullMQ no-op jobs, one worker process per core.
  const ceilingRedis = await startBenchRedis();
  const ceilingJobs = ctx.quick ? 20_000 : 100_000;
  const per = Math.ceil(ceilingJobs / WORKERS);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, () => runChild('bullmq-ceiling', [ceilingRedis.url, String(per), '16'])),
  );
  const ceiling = ((per * WORKERS) / (performance.now() - t0)) * 1000;
  await ceilingRedis.stop();

  // The simulated studies: 100k (the scale the conductor's CPU per step is judged at), then 1M.
  for (const size of ctx.quick ? [100_000] : [100_000, 1_000_000]) await simulatedStudy(ctx, dir, size, ceiling);
  const samples = ctx.quick ? 100_000 : 1_000_000;
  writeFileSync(path.join(dir, 'samples.yaml'), SAMPLES_SPEC);
  writeSamples(path.join(dir, 'samples.npy'), samples);
  await simulatedStudy(ctx, dir, samples, ceiling, 'samples');
  if (ctx.huge) {
    writeSamples(path.join(dir, 'samples.npy'), HUGE);
    await simulatedStudy(ctx, dir, HUGE, ceiling, 'samples');
  }
}

/** The --huge study's instances (issue #24: Merlin's published ensembles are 10^7 samples). */
const HUGE = 10_000_000;

/** Runs an `n`-instance study on simulating local workers and reports its rows. */
async function simulatedStudy(
  ctx: BenchContext,
  dir: string,
  n: number,
  ceiling: number,
  kind: 'plain' | 'samples' = 'plain',
): Promise<void> {
  const redis = await startBenchRedis({ appendonly: true });
  const root = path.join(dir, `study-${kind}-${n}`);
  const started = performance.now();
  const spec = kind === 'plain' ? countedStudy(n) : ['samples.yaml'];
  const r = await runMaestro(
    [
      'run',
      ...spec,
      '-o',
      root,
      '--redis',
      redis.url,
      '--local-workers',
      String(WORKERS),
      '--worker-concurrency',
      '16',
      '--worker-arg=--simulate',
      '--max-instances',
      String(n),
    ],
    dir,
  );
  const wallS = (performance.now() - started) / 1000;
  if (r.code !== 0) throw new Error(`simulated study exited ${r.code}:\n${r.output.slice(-2000)}`);
  const study = await tallyStudy(redis.client(), 'maestro', root);
  const peakRedis = Number(/used_memory_peak:(\d+)/.exec(await redis.client().info('memory'))?.[1] ?? 0);
  await redis.stop();
  const { finished, firstAttempt } = study;
  const { runs, sentBack, sentBackInstances } = runsReported(root);
  const size = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
  const scenario = kind === 'plain' ? `${size} simulated study` : `${size}-sample step (Merlin), simulated`;
  const rate = n / ((Number(study.fields[F.endedAt]) - Number(study.fields[F.startedAt])) / 1000);
  ctx.report({
    scenario,
    metric: 'wall time',
    value: Math.round(wallS),
    unit: 's',
    target: n === 1_000_000 ? '< 360 s' : undefined,
  });
  ctx.report({
    scenario,
    metric: 'throughput',
    value: Math.round(rate),
    unit: 'steps/s',
    ceiling: Math.round(ceiling),
    ratio: rate / ceiling,
  });
  ctx.report({
    scenario,
    metric: 'conductor CPU / step',
    value: Number((Number(study.fields[F.conductorCpuMs]) / n).toFixed(3)),
    unit: 'ms',
    target: '< 0.2 ms',
  });
  const huge = n >= HUGE;
  const peakRssMB = Number(study.fields[F.conductorPeakRssMB]);
  ctx.report({
    scenario,
    metric: 'conductor peak RSS',
    value: peakRssMB,
    unit: 'MiB',
    target: huge ? '< 1536 MiB' : '< 1024 MiB',
  });
  ctx.report({
    scenario,
    metric: 'Redis peak memory',
    value: Math.round(peakRedis / 1048576),
    unit: 'MiB',
    target: huge ? '< 1024 MiB' : '< 512 MiB',
  });
  // What each instance costs, for docs/performance.md: the whole process over the instances.
  ctx.report({ scenario, metric: 'conductor RSS / instance', value: Math.round((peakRssMB * 1048576) / n), unit: 'B' });
  ctx.report({ scenario, metric: 'Redis peak / instance', value: Math.round(peakRedis / n), unit: 'B' });
  ctx.report({
    scenario,
    metric: 'lost or run twice',
    value: n - finished + Math.abs(runs - sentBack - n) + Math.max(0, n - firstAttempt - sentBackInstances),
    unit: 'steps',
    target: '0',
  });
  ctx.report({ scenario, metric: 'sent back unstarted', value: sentBack, unit: 'steps' }); // each ran once later
}
