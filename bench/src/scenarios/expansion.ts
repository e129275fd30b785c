/** Expansion of big studies: time and peak memory, each in a fresh process. */
import { runChild } from '../child-process.js';
import { median, type BenchContext } from '../rows.js';

interface ExpandResult {
  instances: number;
  ms: number;
  peakRssMB: number;
}

export async function expansion(ctx: BenchContext): Promise<void> {
  const cases: { name: string; source: 'yaml' | 'generated'; instances: number; target?: [string, string] }[] = [
    { name: 'expand 100k (YAML sweep)', source: 'yaml', instances: 100_001, target: ['< 3 s', '< 1 GiB'] },
    { name: 'expand 100k (generated)', source: 'generated', instances: 100_001 },
  ];
  if (!ctx.quick) {
    cases.push({
      name: 'expand 1M (generated)',
      source: 'generated',
      instances: 1_000_001,
      target: ['< 20 s', '< 1 GiB'],
    });
    cases.push({ name: 'expand 1M (YAML sweep)', source: 'yaml', instances: 1_000_001 });
  }
  for (const c of cases) {
    const runs: ExpandResult[] = [];
    for (let k = 0; k < (ctx.quick ? 1 : 3); k++)
      runs.push(await runChild<ExpandResult>('expand', [c.source, String(c.instances)]));
    ctx.report({
      scenario: c.name,
      metric: 'time',
      value: round(median(runs.map((r) => r.ms)) / 1000, 2),
      unit: 's',
      target: c.target?.[0],
    });
    ctx.report({
      scenario: c.name,
      metric: 'peak RSS',
      value: Math.round(median(runs.map((r) => r.peakRssMB))),
      unit: 'MiB',
      target: c.target?.[1],
    });
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
