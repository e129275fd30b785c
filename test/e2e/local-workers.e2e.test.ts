/**
 * Where `maestro run` runs steps when not told: in the conductor's own process (its home
 * worker), as many at once as the study is wide (a chain one, however long), at most the
 * machine's cores; in `maestro-worker` processes when a flag asks for them (`--local-workers
 * N`, `--worker-concurrency`, `--worker-arg`) or the study has over 500 instances side by side. Every worker writes
 * meta/logs/worker-<n>.log, whose "worker started" line says its pid and concurrency: that is
 * how the test tells them apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startMaestro } from '../helpers/processes.js';
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

// Long enough that every worker process has started before the study ends.
const wideSlow = wide.replace('"true $(N)"', '"sleep 1; true $(N)"');

interface Started {
  file: string;
  pid: number | undefined;
  concurrency: number | undefined;
}

async function workers(
  body: string,
  args: string[] = [],
): Promise<{ conductorPid: number; started: Started[]; states: string[] }> {
  const dir = tempDir();
  const spec = writeSpec(dir, 'width', body);
  const root = path.join(dir, 'study');
  const run = startMaestro(['run', spec, '-o', root, ...args]);
  const r = await run;
  expect(r.exitCode, String(r.all)).toBe(0);
  const logs = readdirSync(path.join(root, 'meta/logs'))
    .filter((f) => /^worker-\d+\.log$/.test(f))
    .sort();
  // A worker process told to stop before it connected logs no "worker started": pid unknown.
  const started = logs.map((file) => {
    const lines = readFileSync(path.join(root, 'meta/logs', file), 'utf8')
      .split('\n')
      .filter(Boolean);
    const first = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'worker started');
    return {
      file,
      pid: first?.['pid'] as number | undefined,
      concurrency: first?.['concurrency'] as number | undefined,
    };
  });
  return { conductorPid: run.pid!, started, states: Object.values(statesByName(root)) };
}

describe('where maestro run runs steps', () => {
  it('runs a chain in its own process, one step at a time', async () => {
    const { conductorPid, started, states } = await workers(chain);
    expect(started).toEqual([{ file: 'worker-1.log', pid: conductorPid, concurrency: 1 }]);
    expect(states).toEqual(['FINISHED', 'FINISHED', 'FINISHED']);
  });

  it('runs a study wider than the machine one step per core, in its own process', async () => {
    const cores = os.availableParallelism();
    const { conductorPid, started, states } = await workers(wide);
    expect(started).toEqual([{ file: 'worker-1.log', pid: conductorPid, concurrency: Math.min(cores, 8) }]);
    expect(states).toEqual(Array(8).fill('FINISHED'));
  });

  it('starts worker processes, one per core, for a study of over 500 instances side by side', async () => {
    const cores = os.availableParallelism();
    const many = wide.replace('[1, 2, 3, 4, 5, 6, 7, 8]', `[${Array.from({ length: 501 }, (_, k) => k).join(', ')}]`);
    const { conductorPid, started, states } = await workers(many);
    expect(started.map((s) => s.file)).toHaveLength(Math.min(cores, 501));
    for (const s of started) expect(s.pid).not.toBe(conductorPid);
    expect(states).toHaveLength(501);
    expect(new Set(states)).toEqual(new Set(['FINISHED']));
  });

  it('starts as many worker processes as --local-workers says, whatever the width', async () => {
    const { conductorPid, started } = await workers(chain, ['--local-workers', '2']);
    expect(started.map((s) => s.file)).toEqual(['worker-1.log', 'worker-2.log']);
    for (const s of started) expect(s.pid).not.toBe(conductorPid);
  });

  it('starts worker processes, as wide as the study, when --worker-concurrency is given', async () => {
    const cores = os.availableParallelism();
    const { conductorPid, started, states } = await workers(wideSlow, ['--worker-concurrency', '2']);
    expect(started).toHaveLength(Math.min(cores, 8));
    for (const s of started) expect(s).toMatchObject({ concurrency: 2 });
    for (const s of started) expect(s.pid).not.toBe(conductorPid);
    expect(states).toEqual(Array(8).fill('FINISHED'));
  });

  it('says why, and exits 1, when the worker in its process cannot start', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'bad-worker', chain);
    const r = await startMaestro(['run', spec, '-o', path.join(dir, 'study')], {
      env: { MAESTRO_LAUNCHER: 'bogus' },
    });
    expect(r.exitCode, String(r.all)).toBe(1);
    expect(r.all).toContain("MAESTRO_LAUNCHER: must be auto, compiled or script, got 'bogus'");
  });
});
