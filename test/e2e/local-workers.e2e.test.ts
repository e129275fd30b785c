/**
 * How many local workers `maestro run` starts when not told: no more than the study is wide
 * (a chain needs one, however long), and no more than the machine's cores. Each worker writes
 * meta/logs/worker-<n>.log, which is how the test counts them.
 */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { statesByName, tempDir, writeSpec } from '../helpers/study.js';

const chain = `study:
  - {name: a, description: d, run: {cmd: "true"}}
  - {name: b, description: d, run: {cmd: "true", depends: [a]}}
  - {name: c, description: d, run: {cmd: "true", depends: [b]}}
`;

const wide = `study:
  - {name: s, description: d, run: {cmd: "true $(N)"}}
global.parameters:
  N: {values: [1, 2, 3, 4, 5, 6, 7, 8], label: N.%%}
`;

async function workerLogs(body: string, args: string[] = []): Promise<{ logs: string[]; states: string[] }> {
  const dir = tempDir();
  const spec = writeSpec(dir, 'width', body);
  const root = path.join(dir, 'study');
  const r = await maestro(['run', spec, '-o', root, ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  const logs = readdirSync(path.join(root, 'meta/logs')).filter((f) => /^worker-\d+\.log$/.test(f));
  return { logs: logs.sort(), states: Object.values(statesByName(root)) };
}

describe('local workers by the width of the study', () => {
  it('starts one for a chain', async () => {
    const { logs, states } = await workerLogs(chain);
    expect(logs).toEqual(['worker-1.log']);
    expect(states).toEqual(['FINISHED', 'FINISHED', 'FINISHED']);
  });

  it('starts one per core for a study wider than the machine', async () => {
    const cores = os.availableParallelism();
    const { logs, states } = await workerLogs(wide);
    expect(logs).toHaveLength(Math.min(cores, 8));
    expect(states).toEqual(Array(8).fill('FINISHED'));
  });

  it('starts as many as --local-workers says, whatever the width', async () => {
    const { logs } = await workerLogs(chain, ['--local-workers', '2']);
    expect(logs).toEqual(['worker-1.log', 'worker-2.log']);
  });
});
