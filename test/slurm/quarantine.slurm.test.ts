/**
 * Bad-node quarantine on a real Slurm cluster on this machine (issue #25, item 3): a worker on one
 * virtual node whose PATH is broken (its `sleep` exits 3) fails every step; it is quarantined
 * within 10 of its failures and drained, its failed instances run again on the other node without
 * counting against their attempts (`-a 1`: one counted failure would end an instance FAILED), and
 * the study finishes.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro, WORKER_BIN } from '../helpers/cli.js';
import { killAll, startMaestro, waitForOutput, type Started } from '../helpers/processes.js';
import { jobsNamed, scancel, useClusterRedis } from '../helpers/slurm.js';
import { conductorLogLines, readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

const cluster = useClusterRedis();
const jobName = `quarantine-${randomUUID().slice(0, 8)}`;
const workers: Started[] = [];
afterEach(async () => {
  for (const id of jobsNamed(jobName)) scancel(id);
  for (const w of workers) w.kill('SIGTERM');
  await killAll();
});

/** status.csv's rows, or none while it is not written yet. */
function statusRows(root: string): ReturnType<typeof readStatus> {
  try {
    return readStatus(root);
  } catch {
    return [];
  }
}

const SPEC = `study:
  - name: work
    description: needs a working sleep on PATH
    run:
      cmd: |
        sleep 0.5 && echo "$SLURMD_NODENAME" > node.txt # instance $(N)
global.parameters:
  N: {values: [${Array.from({ length: 30 }, (_, k) => k + 1).join(', ')}], label: N.%%}
`;

/**
 * One worker as a Slurm job step on one virtual node (srun picks it; `exclude` keeps it off
 * another), printing its node's name first. `pathPrefix`: a folder put before PATH.
 */
function srunWorker(prefix: string, name: string, options: { exclude?: string; pathPrefix?: string } = {}): Started {
  const env = options.pathPrefix ? `PATH=${options.pathPrefix}:$PATH ` : '';
  const script = `echo "node=$SLURMD_NODENAME"; ${env}exec ${process.execPath} ${WORKER_BIN} --redis ${cluster.redis().url} --redis-password-file ${cluster.redis().passwordFile} --prefix ${prefix} --name ${name} --concurrency 1`;
  const args = ['-N1', '-n1', '-c1', '--job-name', jobName, ...(options.exclude ? ['--exclude', options.exclude] : [])];
  const w = execa('srun', [...args, 'bash', '-c', script], { reject: false, all: true });
  workers.push(w);
  return w;
}

describe('bad-node quarantine', () => {
  it('quarantines a node that fails every step within 10 of its failures; the study finishes on the other node, attempts untouched', async () => {
    const dir = tempDir();
    const prefix = `q${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'quarantine', SPEC);
    // The broken PATH: a `sleep` that fails, as a bad module or a stale mount would shadow one.
    const badBin = path.join(dir, 'badbin');
    mkdirSync(badBin);
    writeFileSync(path.join(badBin, 'sleep'), '#!/bin/sh\nexit 3\n');
    chmodSync(path.join(badBin, 'sleep'), 0o755);

    const run = startMaestro(['run', spec, '-o', root, ...cluster.flags(), '--prefix', prefix, '--local-workers', '0']);
    await waitFor(() => statusRows(root).length === 30 || false, 60_000, 'the study to start');

    // The good worker first, so the fleet has a norm to compare with when the bad one fails.
    const good = srunWorker(prefix, 'good');
    const goodNode = (await waitForOutput(good, /node=(\S+)/, 60_000))[1]!;
    await waitFor(() => statusRows(root).some((r) => r.state === 'FINISHED') || false, 60_000, 'a first success');
    const bad = srunWorker(prefix, 'bad', { exclude: goodNode, pathPrefix: badBin });
    const badNode = (await waitForOutput(bad, /node=(\S+)/, 60_000))[1]!;
    expect(badNode).not.toBe(goodNode);

    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    const rows = readStatus(root);
    expect(rows.map((r) => r.state)).toEqual(Array(30).fill('FINISHED'));
    // Every instance finished on the good node; none had a counted failure (-a 1 would have failed it).
    for (const r of rows) expect(readFileSync(path.join(root, r.workspace, 'node.txt'), 'utf8').trim()).toBe(goodNode);

    const drained = conductorLogLines(root, /^bad-node quarantine: draining/);
    expect(drained).toHaveLength(1);
    const evidence = drained[0]!['evidence'] as Array<Record<string, number | string>>;
    expect(evidence).toHaveLength(1);
    const e = evidence[0]!;
    expect(e['host']).toBe(badNode);
    expect(e['failures']).toBeGreaterThanOrEqual(3);
    expect(e['failures']).toBeLessThanOrEqual(10);
    expect(e['failuresElsewhere']).toBe(0);
    expect(e['runsElsewhere']).toBeGreaterThanOrEqual(1);
    // The bad worker drained: it left before the study's end, by itself.
    expect((await bad).all).toMatch(/drain requested/);
    expect(good.exitCode).toBeNull(); // still running: only the bad node was drained

    // workers list shows the quarantine with its evidence; release ends it (no conductor: stored list).
    const studyFlags = ['--study', root, '--redis-password-file', cluster.redis().passwordFile];
    const listed = await maestro(['workers', 'list', ...studyFlags]);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(
        `QUARANTINED HOST .*\\n${badNode} +\\d+s ago +${e['failures']} of ${e['runs']} runs +\\d+ +0 of \\d+ runs`,
      ),
    );
    const json = await maestro(['workers', 'list', '--json', ...studyFlags]);
    expect((JSON.parse(json.stdout) as { quarantined: unknown[] }).quarantined).toEqual([
      expect.objectContaining({ host: badNode, failures: e['failures'] }),
    ]);
    const wrong = await maestro(['workers', 'release', goodNode, ...studyFlags]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toContain(
      `host '${goodNode}' is not quarantined in study quarantine; quarantined hosts: ${badNode}`,
    );
    const released = await maestro(['workers', 'release', badNode, ...studyFlags]);
    expect(released.exitCode, released.stderr).toBe(0);
    expect(released.stdout).toContain(`Released ${badNode} in quarantine`);
    const after = await maestro(['workers', 'list', '--json', ...studyFlags]);
    expect((JSON.parse(after.stdout) as { quarantined: unknown[] }).quarantined).toEqual([]);
  });
});
