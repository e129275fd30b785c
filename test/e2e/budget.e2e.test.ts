/**
 * The node-hour budget (issue #25 item 4): `maestro run --budget` below what a study needs stops
 * it, resumable, with the reason in its output and status; `maestro resume --budget` larger
 * finishes it. Ten steps of 1 node and a 3 s walltime that run 1 s: with 0.002 node-hours (7.2
 * node-seconds), a step is sent only while what ran plus 3 s for each in flight fits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { readStatus, tempDir, writeSpec } from '../helpers/study.js';

const spec = `study:
  - name: work
    description: one node for about a second, a walltime of 3 s
    run:
      cmd: echo $(ID); sleep 1
      nodes: 1
      walltime: "0:03"
global.parameters:
  ID: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], label: ID.%%}
`;

describe('maestro run --budget', () => {
  it('stops the study before it passes the budget, saying why; resume with a larger budget finishes it', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const file = writeSpec(dir, 'budgeted', spec);

    const dry = await maestro(['run', '--dry', '-o', path.join(dir, 'dry'), file]);
    expect(dry.stdout).toContain('  work: 0.00833 (10 instances)'); // 10 × 3 s, at most

    const run = await maestro(['run', '-o', root, '--local-workers', '2', '--budget', '0.002', file], {
      timeout: 120_000,
    });
    expect(run.stdout).toMatch(
      /^Stopped: the node-hour budget of 0\.002 is spent: 0\.00\d+ used, and work_ID\.\d+ needs 0\.000833 more; continue with a larger --budget/m,
    );
    expect(run.stdout).toContain(`Continue it with: maestro resume ${root}`);
    const status = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as {
      state: string;
      stoppedBecause: string;
    };
    expect(status.state).toBe('STOPPED');
    const finished = readStatus(root).filter((r) => r.state === 'FINISHED').length;
    expect(finished).toBeGreaterThan(0);
    expect(finished).toBeLessThan(10);
    const shown = await maestro(['status', root]);
    expect(shown.stdout).toContain(`Stopped: ${status.stoppedBecause}`);

    const resumed = await maestro(['resume', root, '--local-workers', '2', '--budget', '1'], { timeout: 120_000 });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(readStatus(root).map((r) => r.state)).toEqual(Array(10).fill('FINISHED'));
  }, 300_000);

  it('refuses a budget that is not a number of node-hours', async () => {
    const r = await maestro(['run', '--budget', 'lots', 'x.yaml']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("--budget takes node-hours, a number such as 500 or 2.5; got 'lots'");
  });
});
