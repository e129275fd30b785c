/**
 * A second conductor on a running study is refused; the first goes on undisturbed. Two resumes
 * started at once on a stopped study: one runs it, the other is refused and leaves the winner's
 * embedded Redis alone (only the process that started a Redis stops it).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { isAlive, killAll, processFamily, startMaestro } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { auditStudy, faultStep } from './audit.js';

afterEach(killAll);

describe('two conductors', () => {
  it('a second conductor started on a running study is refused', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'busy',
      `study:\n  - {name: gate, description: waits, run: {cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')}'}}\n  - {name: after, description: then, run: {cmd: '${faultStep('0.1')}', depends: [gate]}}\n`,
    );
    const first = startMaestro(['run', '-o', root, '--local-workers', '1', spec]);
    await waitFor(() => existsSync(path.join(root, 'status.csv')), 60_000, 'the first conductor to start');
    const second = await maestro(['resume', root, '--local-workers', '0'], { timeout: 60_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(
      /another conductor \(host .*, pid \d+\) is driving this study; only one may run it at a time/,
    );
    writeFileSync(path.join(dir, 'go'), '');
    const result = await first;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(auditStudy(root).problems).toEqual([]);
  });

  it(
    'two resumes at once: one finishes the study, the other is refused and leaves its Redis alone',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      const root = path.join(dir, 'study');
      const spec = writeSpec(
        dir,
        'twice',
        `study:\n  - {name: gate, description: waits, run: {cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')}'}}\n  - {name: after, description: then, run: {cmd: '${faultStep('0.1')}', depends: [gate]}}\n`,
      );
      // A study whose conductor died while its gate ran: resumable, its Redis gone with it
      // (parent-death signal).
      const first = startMaestro(['run', '-o', root, '--local-workers', '1', spec]);
      await waitFor(() => existsSync(path.join(root, 'gate/runs.log')), 60_000, 'the gate to start');
      const firstRedis = Number(readFileSync(path.join(root, 'meta/redis/redis.pid'), 'utf8'));
      first.kill('SIGKILL');
      await first;
      await waitFor(() => !isAlive(firstRedis), 30_000, 'the first Redis to stop');

      const resumes = [0, 1].map(() => startMaestro(['resume', root, '--local-workers', '1']));
      const loser = await Promise.race(resumes.map((r, k) => r.then(() => k)));
      const winner = resumes[1 - loser]!;
      const refused = await resumes[loser]!;
      expect(refused.exitCode, String(refused.all)).toBe(1);
      expect(refused.all).toMatch(
        /another conductor \(host .*, pid \d+\) is driving this study; only one may run it at a time/,
      );
      // The winner runs on, on the Redis it started: the loser did not stop it.
      const redisPid = await waitFor(
        () => {
          try {
            const pid = Number(readFileSync(path.join(root, 'meta/redis/redis.pid'), 'utf8'));
            return processFamily(winner.pid!).includes(pid) && pid;
          } catch {
            return false;
          }
        },
        30_000,
        "the winner's Redis",
      );
      await waitFor(
        () =>
          existsSync(path.join(root, 'gate/runs.log')) &&
          readFileSync(path.join(root, 'gate/runs.log'), 'utf8').split('start').length > 2,
        60_000,
        'the gate to run again',
      );
      expect(isAlive(redisPid)).toBe(true);
      writeFileSync(path.join(dir, 'go'), '');
      const result = await winner;
      expect(result.exitCode, String(result.all)).toBe(0);
      expect(auditStudy(root).problems).toEqual([]);
    },
  );
});
