/**
 * The conductor SIGKILLed at random points of a study (20 seeds), then `maestro resume`: the
 * study finishes and the audit holds. Embedded Redis, the default a user gets; odd seeds run
 * steps in the conductor's own process (its home worker, the default), even seeds in two
 * local worker processes: killing the conductor takes its Redis and workers (or the home
 * worker's step launcher, and so its steps) down with it, and resume starts them again from
 * the append-only file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { startMaestro } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStudy, seeded } from './audit.js';

const SEEDS = Array.from({ length: 20 }, (_, k) => k + 1);

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** 0 when the file is gone: the study ended (and its Redis with it) before the kill. */
function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

describe.concurrent('conductor SIGKILL and resume', () => {
  it.each(SEEDS)('seed %i', { timeout: 180_000 }, async (seed) => {
    const random = seeded(seed);
    const dir = tempDir(`maestro-fault-ckill-${seed}-`);
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, `ckill${seed}`, faultStudy(6, (0.1 + random() * 0.3).toFixed(2)));
    // Tests here run side by side: each kills only its own processes (no shared afterEach).
    const workers = seed % 2 === 1 ? [] : ['--local-workers', '2', '--worker-concurrency', '2'];
    const run = startMaestro(['run', '-o', root, ...workers, spec]);
    let ended = false;
    void run.then(() => (ended = true));
    await waitFor(() => ended || existsSync(path.join(root, 'status.csv')), 60_000, 'the study to start');
    if (ended) expect.fail(`maestro run ended before it was killed:\n${String((await run).all)}`);
    await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
    // Read before the kill: a Redis shutting down removes its pid file while it still runs.
    const redisPid = readPid(path.join(root, 'meta/redis/redis.pid'));
    run.kill('SIGKILL');
    await run;
    // Its Redis and workers die with it (parent-death signal); wait for the Redis to be gone.
    if (redisPid) await waitFor(() => !pidAlive(redisPid), 30_000, 'the embedded Redis to stop');
    const resumed = await maestro(['resume', root, ...workers], {
      timeout: 150_000,
    });
    // Also when the study finished before the kill landed: resume then finds it done.
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const report = auditStudy(root);
    expect(report.problems).toEqual([]);
    expect(Object.values(report.states).every((s) => s === 'FINISHED')).toBe(true);
  });
});
