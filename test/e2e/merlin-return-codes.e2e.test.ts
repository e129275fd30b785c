/**
 * Merlin's return codes through `maestro run` as a user types it (the study's own Redis and local
 * workers, real shell steps): `exit $(MERLIN_RETRY)` retried after the step's retry_delay,
 * `$(MERLIN_SOFT_FAIL)` failing that instance only, `$(MERLIN_HARD_FAIL)` stopping the study.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { readStatus, statesByName, tempDir, writeSpec } from '../helpers/study.js';

const run = async (name: string, body: string) => {
  const cwd = tempDir();
  const root = path.join(cwd, 'study');
  const spec = writeSpec(cwd, name, body);
  const r = await maestro(['run', '-o', root, '--local-workers', '2', spec], { cwd, timeout: 120_000 });
  return { root, r, output: `${r.stdout}\n${r.stderr}` };
};

describe('Merlin return codes', () => {
  it('a step that exits $(MERLIN_RETRY) twice then 0 runs again after its retry_delay and ends FINISHED with 3 attempts', async () => {
    const { root, r, output } = await run(
      'retry',
      `study:
  - name: flaky
    description: asks for a retry twice
    run:
      cmd: |
        date +%s%3N >> starts
        n=$(wc -l < starts)
        if [ "$n" -le 2 ]; then date +%s%3N >> ends; exit $(MERLIN_RETRY); fi
      max_retries: 3
      retry_delay: 2
  - name: after
    description: runs once flaky finished
    run:
      cmd: cat $(flaky.workspace)/starts > seen
      depends: [flaky]
`,
    );
    expect(r.exitCode, output).toBe(0);
    expect(statesByName(root)).toEqual({ flaky: 'FINISHED', after: 'FINISHED' });
    const flaky = readStatus(root).find((x) => x.name === 'flaky')!;
    // Merlin's status counts each RETRY as a restart; the third run is the third attempt.
    expect(flaky.restarts).toBe(2);
    const ws = path.join(root, flaky.workspace);
    const starts = readFileSync(path.join(ws, 'starts'), 'utf8').trim().split('\n').map(Number);
    const ends = readFileSync(path.join(ws, 'ends'), 'utf8').trim().split('\n').map(Number);
    expect(starts).toHaveLength(3);
    expect(readFileSync(path.join(ws, 'flaky.sh'), 'utf8')).toContain('exit 104');
    // Each retry waited at least retry_delay (2 s) after the run before it ended: a lower bound
    // only, which a slow machine cannot break.
    for (const k of [0, 1]) expect(starts[k + 1]! - ends[k]!).toBeGreaterThanOrEqual(2000);
  });

  it('$(MERLIN_SOFT_FAIL) fails that instance only: its sibling instance, its dependents and other steps run', async () => {
    const { root, r, output } = await run(
      'soft',
      `study:
  - name: sim
    description: one of two soft-fails
    run:
      cmd: |
        if [ "$(N)" = 1 ]; then exit $(MERLIN_SOFT_FAIL); fi
        echo ok > out
  - name: post
    description: after each sim
    run:
      cmd: echo post > out
      depends: [sim]
  - name: gather
    description: after all sims
    run:
      cmd: echo gather > out
      depends: [sim_*]
global.parameters:
  N: {values: [1, 2], label: N.%%}
`,
    );
    expect(r.exitCode, output).toBe(2); // FAILURE, as Maestro's exit code for a study with a failure
    expect(statesByName(root)).toEqual({
      'sim_N.1': 'FAILED',
      'sim_N.2': 'FINISHED',
      'post_N.1': 'FINISHED',
      'post_N.2': 'FINISHED',
      gather: 'FINISHED',
    });
  });

  it('$(MERLIN_HARD_FAIL) stops the study: FAILURE, what stopped it told, nothing more started', async () => {
    const { root, r, output } = await run(
      'hard',
      `study:
  - name: first
    description: gives up for good
    run:
      cmd: exit $(MERLIN_HARD_FAIL)
  - name: child
    description: depends on first
    run:
      cmd: touch ran
      depends: [first]
  - name: slow
    description: independent, still running when first gives up
    run:
      cmd: sleep 60
  - name: later
    description: would run after slow
    run:
      cmd: touch ran
      depends: [slow]
`,
    );
    expect(r.exitCode, output).toBe(2);
    expect(r.stdout).toContain('Study FAILURE');
    expect(r.stdout).toContain('Stopped: first exited MERLIN_HARD_FAIL (102): the study stopped');
    expect(statesByName(root)).toEqual({ first: 'FAILED', child: 'FAILED', slow: 'CANCELLED', later: 'CANCELLED' });
    const status = await maestro(['status', root]);
    expect(status.stdout).toContain('Stopped: first exited MERLIN_HARD_FAIL (102): the study stopped');
    const json = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as { state: string };
    expect(json.state).toBe('FAILURE');
  });
});
