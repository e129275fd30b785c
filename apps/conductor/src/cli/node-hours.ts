/** The node-hours bound as `maestro expand` and `maestro run --dry` print it. */
import type { NodeHours } from '@maestro/spec';
import { formatCount } from '../status/count.js';

/** 1 decimal, or 3 significant digits below 1 (a small study's bound is a fraction of an hour). */
const number = (n: number): string =>
  n > 0 && n < 1 ? String(Number(n.toPrecision(3))) : n.toLocaleString('en-US', { maximumFractionDigits: 1 });

/** The bound's lines; none for a study where no instance has a walltime (nothing to bound). */
export function formatNodeHours(nh: NodeHours): string[] {
  if (nh.steps.every((s) => s.withoutWalltime === s.instances)) return [];
  const lines = ['Node-hours, at most (nodes × walltime of each instance; 1 node where a step sets none):'];
  for (const s of nh.steps) {
    const counted = s.instances - s.withoutWalltime;
    const parts: string[] = [];
    if (counted) parts.push(`${number(s.nodeHours)} (${formatCount(counted, 'instance')})`);
    if (s.withoutWalltime) parts.push(`${formatCount(s.withoutWalltime, 'instance')} without a walltime, not counted`);
    lines.push(`  ${s.step}: ${parts.join('; ')}`);
  }
  lines.push(
    `  total: ${number(nh.total)}${nh.withoutWalltime ? `, and ${formatCount(nh.withoutWalltime, 'instance')} without a walltime` : ''}`,
  );
  return lines;
}

/** `nodeHours` in JSON: per step and in total. */
export function nodeHoursJson(nh: NodeHours): unknown {
  return { total: nh.total, withoutWalltime: nh.withoutWalltime, steps: nh.steps };
}
