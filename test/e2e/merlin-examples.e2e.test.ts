/**
 * Merlin's own example workflows (test/fixtures/merlin, copied unchanged from LLNL/merlin; generators of ours where theirs import merlin) run
 * with `maestro run` as a user types it: simple_chain's chain in order, and restart's steps that
 * exit $(MERLIN_RESTART) and $(MERLIN_RETRY) ending FINISHED after one more run each.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { readStatus, tempDir } from '../helpers/study.js';

const fixtures = path.join(REPO_ROOT, 'test/fixtures/merlin');

async function runExample(file: string) {
  const cwd = tempDir();
  const root = path.join(cwd, 'study');
  const r = await maestro(['run', '-o', root, '--local-workers', '2', path.join(fixtures, file)], {
    cwd,
    timeout: 120_000,
  });
  return { root, r, rows: readStatus(root) };
}

/** Rows of one step (every instance of it, whatever its parameters or samples): by its folder. */
const rowsOf = (rows: ReturnType<typeof readStatus>, step: string) =>
  rows.filter((x) => x.workspace.split('/')[0] === step);

describe("Merlin's example workflows", () => {
  it('simple_chain: step2 of each X2 lists step1 after it finished', async () => {
    const { root, r, rows } = await runExample('simple_chain.yaml');
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(rows.map((x) => `${x.name} ${x.state}`).sort()).toEqual([
      'step1_X2.0.5 FINISHED',
      'step1_X2.0.75 FINISHED',
      'step2_X2.0.5 FINISHED',
      'step2_X2.0.75 FINISHED',
    ]);
    for (const row of rowsOf(rows, 'step2')) {
      const listing = readFileSync(path.join(root, row.workspace, `${row.name}.out`), 'utf8');
      expect(listing).toContain('.sh'); // it listed step1's workspace ...
      expect(listing).not.toContain('STEP_ONE_RUNNING'); // ... after step1 removed its marker
    }
  });

  it('restart: RESTART runs cmd again (no restart) or the restart command, RETRY runs cmd again; all FINISHED', async () => {
    // Its generator is ours (Merlin's imports merlin): restart/scripts is restart_delay's.
    const { root, r, rows } = await runExample('restart/restart.yaml');
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(rows.every((x) => x.state === 'FINISHED')).toBe(true);
    for (const step of ['runs', 'runs_rt', 'runs_rs']) {
      const mine = rowsOf(rows, step);
      expect(mine).toHaveLength(10); // N_SAMPLES
      // One RESTART or RETRY each, then success: one restart in Merlin's count.
      for (const row of mine) expect(row.restarts, row.name).toBe(1);
    }
    for (const row of rowsOf(rows, 'runs')) expect(existsSync(path.join(root, row.workspace, 'restarted'))).toBe(true);
    for (const row of rowsOf(rows, 'runs_rt')) expect(existsSync(path.join(root, row.workspace, 'retried'))).toBe(true);
    for (const row of rowsOf(rows, 'runs_rs')) {
      const ws = path.join(root, row.workspace);
      // The second run was the restart command, which echoes the binary's path.
      expect(existsSync(path.join(ws, 'runs_rs.restart.sh'))).toBe(true); // in a sample folder, files are named after the step
      // ...with the sample's V1 and V2 substituted.
      expect(readFileSync(path.join(ws, 'runs_rs.out'), 'utf8')).toMatch(
        /\/mpi_hello \d\.\d+(e-\d+)? \d\.\d+(e-\d+)?\n/,
      );
    }
    expect(rowsOf(rows, 'data')).toHaveLength(1);
  });

  it('restart_delay (generator of ours): every sample step restarted or retried once after its delay, all FINISHED', async () => {
    const { r, rows } = await runExample('restart_delay/restart_delay.yaml');
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(rows).toHaveLength(32); // build, 3 steps × 10 samples, data
    expect(rows.every((x) => x.state === 'FINISHED')).toBe(true);
    for (const step of ['run_10', 'runs_rt_30', 'runs_rs_1']) {
      const mine = rowsOf(rows, step);
      expect(mine).toHaveLength(10);
      for (const row of mine) expect(row.restarts, row.name).toBe(1);
    }
  }, 180_000);
});
