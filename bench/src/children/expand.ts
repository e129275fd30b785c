/**
 * Expands a generated study of N instances in a fresh process and prints time and peak RSS.
 * `yaml`: the parameters are written in the spec (parse + expand); `generated`: they come from
 * a generator (as with --pgen), so only expansion is measured.
 */
import { expandStudy, parametersFromGenerator, parseStudy } from '@maestro/spec';

const [source = 'generated', nText = '100000'] = process.argv.slice(2);
const instances = Number(nText);
// sim and post are expanded over the sweep, plus one funnel step: 2 * rows + 1 instances.
const rows = Math.floor((instances - 1) / 2);
const steps = `study:
  - {name: sim, description: d, run: {cmd: "sim -s $(SIZE) -i $(ITER) > out.txt"}}
  - {name: post, description: d, run: {cmd: "post $(sim.workspace)", depends: [sim]}}
  - {name: all, description: d, run: {cmd: "collect", depends: [post_*]}}
`;
const header = 'description: {name: bench, description: expansion benchmark}\n';
const t0 = performance.now();
let count: number;
if (source === 'yaml') {
  const values = Array.from({ length: rows }, (_, i) => i).join(', ');
  const text = `${header}${steps}global.parameters:\n  SIZE: {values: [${values}], label: SIZE.%%}\n  ITER: {values: [${values}], label: ITER.%%}\n`;
  const start = performance.now();
  const { study } = parseStudy(text);
  count = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', maxInstances: 1e8 }).instanceCount;
  print(performance.now() - start);
} else {
  const values = Array.from({ length: rows }, (_, i) => String(i));
  const parameters = parametersFromGenerator(
    [
      { key: 'SIZE', values, label: 'SIZE.%%' },
      { key: 'ITER', values, label: 'ITER.%%' },
    ],
    'generator',
  );
  const { study } = parseStudy(`${header}${steps}`);
  count = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', maxInstances: 1e8, parameters }).instanceCount;
  print(performance.now() - t0);
}

function print(ms: number): void {
  process.stdout.write(
    `${JSON.stringify({ instances: count, ms, peakRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
}
