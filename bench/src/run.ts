/**
 * `npm run bench [-- --quick] [-- --huge] [-- --only a,b] [-- --baseline DIR]`: every scenario prints its rows as a table and
 * writes bench/results/<scenario>.json (the command and time with its rows); latest.json is the
 * rows of every scenario's latest run. Ratios compare our throughput with a ceiling measured
 * in the same run on the same machine; medians of repeated runs, since the machine is noisy.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow, Scenario } from './rows.js';
import { cpu } from './scenarios/cpu.js';
import { expansion } from './scenarios/expansion.js';
import { fleet } from './scenarios/fleet.js';
import { noop } from './scenarios/noop.js';
import { replication } from './scenarios/replication.js';
import { simulated } from './scenarios/simulated.js';
import { small } from './scenarios/small.js';

const SCENARIOS: Record<string, Scenario> = { expansion, noop, cpu, simulated, replication, small, fleet };
/** Scenarios run only when named with --only: they take many minutes (fleet: 4,000 workers). */
const ON_REQUEST: readonly string[] = ['fleet'];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const huge = args.includes('--huge');
  const onlyAt = args.indexOf('--only');
  const baselineAt = args.indexOf('--baseline');
  const baseline = baselineAt >= 0 ? path.resolve(args[baselineAt + 1] ?? '.') : undefined;
  const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : undefined;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'maestro-bench-'));
  const commandLine = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const widths = [34, 22, 12, 8, 12, 7, 14];
  const line = (cells: string[]): string =>
    cells
      .map((c, k) => c.padEnd(widths[k]!))
      .join(' ')
      .trimEnd();
  console.log(
    `maestro bench${quick ? ' --quick' : ''}: ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString()}`,
  );
  console.log(line(['scenario', 'metric', 'value', 'unit', 'ceiling', 'ratio', 'target']));
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(dir, { recursive: true });
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (only ? !only.includes(name) : ON_REQUEST.includes(name)) continue;
    const rows: BenchRow[] = [];
    await scenario({
      quick,
      huge,
      baseline,
      tmp,
      report: (row) => {
        rows.push(row);
        console.log(
          line([
            row.scenario,
            row.metric,
            String(row.value),
            row.unit,
            row.ceiling === undefined ? '' : String(row.ceiling),
            row.ratio === undefined ? '' : row.ratio.toFixed(2),
            row.target ?? '',
          ]),
        );
      },
    });
    // One file per scenario, so `--only` re-measures some and keeps the latest of the others.
    const measured = { command: commandLine, at: new Date().toISOString(), rows };
    writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(measured, null, 2)}\n`);
  }
  const all: BenchRow[] = [];
  for (const name of Object.keys(SCENARIOS)) {
    const file = path.join(dir, `${name}.json`);
    if (existsSync(file)) all.push(...(JSON.parse(readFileSync(file, 'utf8')) as { rows: BenchRow[] }).rows);
  }
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(all, null, 2)}\n`);
  console.log(`wrote ${path.join(dir, 'latest.json')}`);
}

await main();
