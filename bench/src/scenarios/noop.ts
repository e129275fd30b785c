/**
 * No-op steps end to end, with real spawns: `maestro run` with local workers against the same
 * work done by a bare loop (create the workspace, write the script, spawn bash with output
 * files) with as many processes and slots, in the same run; and that loop with its steps started
 * through the worker's launcher, which tells the launcher's share of the gap from the queue's.
 * Also: the conductor's CPU per step, and a chain link (parent done to child running). A chain
 * cannot share its costs between steps (each link is a wake-up, a commit and an enqueue), so
 * its conductor CPU per link is set beside that of a chain driven with BullMQ alone (add a job,
 * wait for its completed event, add the next), measured in the same run, and beside the CPU of a
 * process that only reads one stream entry per link at a chain's pace (children/stream-wake.ts).
 *
 * The machine's speed drifts by tens of percent within minutes (a shared VM), so each repeat
 * measures the study and the loops right beside each other, in alternating order, and the
 * ratio reported is the median of the repeats' own ratios.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StudyRecordField as F } from '@maestro/protocol';
import { runChild } from '../child-process.js';
import { readStudy, runMaestro } from '../maestro-cli.js';
import { startBenchRedis } from '../redis-server.js';
import { median, type BenchContext } from '../rows.js';

const WORKERS = Math.max(1, os.cpus().length);
const SLOTS = 4;

const header = 'description: {name: noop, description: no-op benchmark}\n';
const values = (n: number): string => Array.from({ length: n }, (_, k) => k).join(', ');

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

function fan(n: number): string {
  return `${header}study:
  - {name: root, description: d, run: {cmd: "true"}}
  - {name: mid, description: d, run: {cmd: "true $(N)", depends: [root]}}
  - {name: end, description: d, run: {cmd: "true", depends: [mid_*]}}
global.parameters:
  N: {values: [${values(n)}], label: N.%%}
`;
}

/**
 * Steps/s of `child` doing the work of `steps` no-op steps in WORKERS processes of SLOTS each:
 * `bare-loop` (the ceiling) or `launcher-loop` (the same, started through the worker's launcher).
 */
async function loop(ctx: BenchContext, child: 'bare-loop' | 'launcher-loop', steps: number): Promise<number> {
  const root = mkdtempSync(path.join(ctx.tmp, `${child}-`));
  const per = Math.ceil(steps / WORKERS);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, (_, w) => runChild(child, [root, String(per), String(SLOTS), String(w * per)])),
  );
  return ((per * WORKERS) / (performance.now() - t0)) * 1000;
}

export async function noop(ctx: BenchContext): Promise<void> {
  const redis = await startBenchRedis();
  const client = redis.client();
  const repeats = ctx.quick ? 1 : 5;
  try {
    const runStudy = async (name: string, spec: string) => {
      const dir = mkdtempSync(path.join(ctx.tmp, `${name}-`));
      writeFileSync(path.join(dir, 'spec.yaml'), spec);
      const prefix = `b${Math.random().toString(36).slice(2, 8)}`;
      const root = path.join(dir, 'study');
      const r = await runMaestro(
        [
          'run',
          'spec.yaml',
          '-o',
          root,
          '--redis',
          redis.url,
          '--prefix',
          prefix,
          '--local-workers',
          String(WORKERS),
          '--worker-concurrency',
          String(SLOTS),
        ],
        dir,
      );
      if (r.code !== 0) throw new Error(`maestro run (${name}) exited ${r.code}:\n${r.output.slice(-2000)}`);
      return readStudy(client, prefix, root);
    };
    const independentN = ctx.quick ? 2_000 : 10_000;
    const chainN = ctx.quick ? 200 : 1_000;
    const fanN = ctx.quick ? 1_000 : 5_000;
    const cases = [
      {
        name: `${ctx.quick ? '2k' : '10k'} independent no-op steps`,
        spec: independent(independentN),
        instances: independentN,
      },
      { name: `chain of ${chainN} no-op steps`, spec: chain(chainN), instances: chainN, chain: true },
      {
        name: `fan-out/fan-in of ${ctx.quick ? '1k' : '5k'} no-op steps`,
        spec: fan(fanN),
        instances: fanN + 2,
      },
    ];
    for (const c of cases) {
      const rates: number[] = [];
      const ceilings: number[] = [];
      const ratios: number[] = [];
      const launcherRatios: number[] = [];
      const cpuPerStep: number[] = [];
      const links: number[] = [];
      const launcherRates: number[] = [];
      const bullmqCpuPerLink: number[] = [];
      const wakeCpuPerLink: number[] = [];
      const cpuRatios: number[] = [];
      const measureStudy = async (): Promise<number> => {
        const study = await runStudy(c.name.replace(/\W+/g, '-'), c.spec);
        const n = study.records.length;
        const first = Math.min(...study.records.map((r) => r.submitMs));
        const last = Math.max(...study.records.map((r) => r.endMs));
        rates.push((n / (last - first)) * 1000);
        cpuPerStep.push(Number(study.fields[F.conductorCpuMs]) / n);
        if (c.chain) for (let i = 1; i < n; i++) links.push(study.records[i]!.startMs - study.records[i - 1]!.endMs);
        return n;
      };
      for (let k = 0; k < repeats; k++) {
        if (c.chain) {
          // The chain's two ceilings: BullMQ alone, and one stream read per link.
          const measureCeilings = async (): Promise<void> => {
            const r = await runChild<{ links: number; cpuMs: number }>('bullmq-chain', [redis.url, String(chainN)]);
            bullmqCpuPerLink.push(r.cpuMs / r.links);
            const w = await runChild<{ links: number; cpuMs: number }>('stream-wake', [redis.url, String(chainN)]);
            wakeCpuPerLink.push(w.cpuMs / w.links);
          };
          if (k % 2 === 1) await measureCeilings();
          await measureStudy();
          if (k % 2 === 0) await measureCeilings();
          cpuRatios.push(cpuPerStep.at(-1)! / bullmqCpuPerLink.at(-1)!);
          continue;
        }
        // Alternate the order, so that a machine getting faster or slower favours neither.
        const n = k % 2 === 0 ? await measureStudy() : c.instances;
        const bare = await loop(ctx, 'bare-loop', n);
        const launcher = await loop(ctx, 'launcher-loop', n);
        if (k % 2 === 1) await measureStudy();
        ceilings.push(bare);
        launcherRates.push(launcher);
        ratios.push(rates.at(-1)! / bare);
        launcherRatios.push(launcher / bare);
      }
      const rate = median(rates);
      if (c.chain) {
        ctx.report({
          scenario: c.name,
          metric: 'chain link (median)',
          value: round(median(links), 2),
          unit: 'ms',
          target: '< 5 ms',
        });
        ctx.report({ scenario: c.name, metric: 'throughput', value: round(rate, 1), unit: 'steps/s' });
        // What only reading one stream entry per link costs here: the floor of any conductor
        // that learns of each result through Redis as it comes.
        ctx.report({
          scenario: c.name,
          metric: 'stream read alone / link',
          value: round(median(wakeCpuPerLink), 3),
          unit: 'ms',
        });
      } else {
        const ceiling = median(ceilings);
        ctx.report({
          scenario: c.name,
          metric: 'throughput',
          value: round(rate, 1),
          unit: 'steps/s',
          ceiling: round(ceiling, 1),
          ratio: median(ratios),
          target: '>= 0.8 of bare loop',
        });
        // Where the gap lies: the launcher alone against the same ceiling.
        const launcher = median(launcherRates);
        ctx.report({
          scenario: c.name,
          metric: 'launcher alone',
          value: round(launcher, 1),
          unit: 'steps/s',
          ceiling: round(ceiling, 1),
          ratio: median(launcherRatios),
        });
      }
      ctx.report({
        scenario: c.name,
        // Startup included, so small studies pay more per step.
        metric: 'conductor CPU / step',
        value: round(median(cpuPerStep), 3),
        unit: 'ms',
        ...(c.chain ? { ceiling: round(median(bullmqCpuPerLink), 3), ratio: median(cpuRatios) } : {}),
        target: '< 0.2 ms',
      });
    }
  } finally {
    await redis.stop();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
