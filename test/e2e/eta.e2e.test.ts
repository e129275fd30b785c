/**
 * The ETA learned from run times (issue #25 item 2): in a study of steps that sleep 1-3 s, the
 * time left that status.json gives once a fifth of the instances finished is within 25% of the
 * time the study then really takes. Both are measured in this run; the test asserts their ratio.
 * A step whose runs come close to its walltime is warned about while the study runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

interface StatusJson {
  state: string;
  total: number;
  counts: Record<string, number>;
  etaMs: number | null;
  etaLowMs?: number | null;
  etaHighMs?: number | null;
  updatedAt: string;
}

const readJson = (root: string): StatusJson | undefined => {
  const file = path.join(root, 'meta/status.json');
  try {
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StatusJson) : undefined;
  } catch {
    return undefined; // between writes
  }
};

function sleepsSpec(n: number, walltime?: string, longest = 3): string {
  const seconds = Array.from({ length: n }, (_, k) => [1, 2, longest][k % 3]);
  const ids = Array.from({ length: n }, (_, k) => k + 1);
  return `study:
  - name: work
    description: sleeps 1 to 3 s
    run:
      cmd: echo $(ID); sleep $(S)
${walltime ? `      walltime: "${walltime}"\n` : ''}global.parameters:
  S: {values: [${seconds.join(', ')}], label: S.%%}
  ID: {values: [${ids.join(', ')}], label: ID.%%}
`;
}

describe('the ETA', () => {
  it('after the first fifth, is within 25% of the time the study then takes', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const n = 30;
    const run = startMaestro([
      'run',
      '-o',
      root,
      '--redis',
      redisUrl,
      '--prefix',
      `e${randomUUID().slice(0, 8)}`,
      '--local-workers',
      '2',
      writeSpec(dir, 'sleeps', sleepsSpec(n)),
    ]);
    const first = await waitFor(
      () => {
        const s = readJson(root);
        return s && (s.counts['FINISHED'] ?? 0) >= n / 5 && s.etaMs !== null ? s : undefined;
      },
      120_000,
      'a fifth of the instances to finish',
    );
    const at = Date.now();
    const promised = first.etaMs! - Math.max(0, at - Date.parse(first.updatedAt));
    expect(first.etaLowMs).not.toBeNull();
    expect(first.etaLowMs!).toBeLessThanOrEqual(first.etaMs!);
    expect(first.etaHighMs!).toBeGreaterThanOrEqual(first.etaMs!);
    await waitFor(() => readJson(root)?.state === 'FINISHED', 180_000, 'the study to finish');
    const took = Date.now() - at;
    const ratio = promised / took;
    console.log(`ETA after a fifth: ${promised} ms; the study then took ${took} ms (ratio ${ratio.toFixed(2)})`);
    expect(ratio).toBeGreaterThan(0.75);
    expect(ratio).toBeLessThan(1.25);
    expect((await run).exitCode).toBe(0);
  }, 240_000);

  it('warns while the study runs when a step comes within 20% of its walltime', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    // Runs of 1-3.5 s against a walltime of 4 s: p90 is 3.5 s, within 20%.
    const run = startMaestro([
      'run',
      '-o',
      root,
      '--redis',
      redisUrl,
      '--prefix',
      `w${randomUUID().slice(0, 8)}`,
      '--local-workers',
      '2',
      writeSpec(dir, 'close', sleepsSpec(12, '0:04', 3.5)),
    ]);
    const line = await waitFor(
      async () => {
        const s = readJson(root);
        if (!s || s.state !== 'RUNNING') return undefined;
        const r = await maestro(['status', root]);
        return r.stdout.split('\n').find((l) => l.startsWith('warning: work:'));
      },
      120_000,
      'the walltime warning',
    );
    expect(line).toMatch(
      /^warning: work: 1 run in 10 takes [34]s or more \(longest [34]s\), within 20% of its walltime 4s; raise walltime: before instances time out$/,
    );
    await run;
  }, 240_000);
});
