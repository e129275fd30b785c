/**
 * Issue #26: `maestro cancel` sent while `maestro resume` waits for the lease of a conductor that
 * died. Workers (separate processes, on a shared Redis) go on meanwhile and finish steps; the
 * resumed conductor must record every one of them FINISHED before it cancels the rest, so that
 * the steps whose work is on disk are exactly the FINISHED ones. The cancelled study leaves none
 * of its jobs in the shared Redis.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, startWorker } from '../helpers/processes.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { faultStep } from './audit.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

const STEPS = 300;

/** Whether the step in `workspace` (under `root`) ran to its end: its last line says so. */
function ranToEnd(root: string, workspace: string): boolean {
  const log = path.join(root, workspace, 'runs.log');
  return existsSync(log) && /^done /m.test(readFileSync(log, 'utf8'));
}

async function jobKeys(redis: Redis, prefix: string, studyId: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:steps:${studyId}.*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

describe('cancel during a resume', () => {
  it(`every step that finished is FINISHED, in a study of ${STEPS} steps`, { timeout: 180_000 }, async () => {
    const dir = tempDir('maestro-fault-cancel-resume-');
    const prefix = `f${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'cancelresume',
      `study:
  - {name: s, description: step $(N), run: {cmd: '${faultStep('0.5')}'}}
global.parameters:
  N: {values: [${Array.from({ length: STEPS }, (_, k) => k).join(', ')}], label: N.%%}
`,
    );
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const workers = [1, 2].map((k) => startWorker(redisUrl, prefix, `w${k}`, ['--concurrency', '4']));
    await waitFor(
      () => existsSync(path.join(root, 'status.csv')) && readStatus(root).some((r) => r.state === 'FINISHED'),
      60_000,
      'some steps to finish',
    );
    run.kill('SIGKILL');
    await run;
    // Its lease holds for its time to live: resume waits for it, the workers go on.
    const resumed = startMaestro(['resume', root, '--redis', redisUrl, '--local-workers', '0']);
    await new Promise((r) => setTimeout(r, 1000));
    const cancel = await maestro(['cancel', root, '--redis', redisUrl]);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    const result = await resumed;
    expect(result.exitCode, String(result.all)).toBe(3);

    const rows = readStatus(root);
    expect(rows).toHaveLength(STEPS);
    const finished = rows.filter((r) => r.state === 'FINISHED').map((r) => r.name);
    const ran = rows.filter((r) => ranToEnd(root, r.workspace)).map((r) => r.name);
    expect(finished.length).toBeGreaterThan(0);
    expect(finished).toEqual(ran);
    for (const r of rows) expect(['FINISHED', 'CANCELLED'], r.name).toContain(r.state);

    // No job of the study is left in the shared Redis once its workers let go of theirs.
    const { id } = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as { id: string };
    const redis = new Redis(redisUrl);
    try {
      await waitFor(async () => (await jobKeys(redis, prefix, id)).length === 0, 30_000, 'its jobs to be gone');
    } finally {
      redis.disconnect();
    }
    for (const w of workers) w.kill('SIGTERM');
  });
});
