/**
 * Ctrl-C and `timeout`: `maestro run` started in a process group of its own, as a shell starts a
 * job, and SIGINT or SIGTERM sent to that whole group, as a terminal's Ctrl-C (or `timeout`)
 * sends it: the conductor, and anything of its own left in its group, get it at once.
 * - A first signal: running steps are handed back, the conductor commits, its Redis stops last;
 *   every process the run started is gone within the cancel grace plus a few seconds, and
 *   `maestro resume` finishes the study without running a finished step again.
 * - A second signal soon after: everything ends at once, nothing left behind; still resumable.
 * - `timeout ... maestro resume`: timeout sends its SIGTERM to the command and then to the
 *   command's whole group, so the conductor gets it twice at once: still one clean stop.
 * The study runs on its embedded Redis, with its steps in the conductor's own process (its home
 * worker, the default a user gets) or in two local worker processes: each test runs both ways.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { MAESTRO_BIN, maestro } from '../helpers/cli.js';
import {
  describeProcesses,
  isAlive,
  killAll,
  processFamily,
  signalGroup,
  startMaestro,
  waitForOutput,
} from '../helpers/processes.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStep } from './audit.js';

afterEach(killAll);

const GRACE_MS = 5_000;
/** "A few seconds" past the cancel grace for every process to be gone. */
const SLACK_MS = 8_000;

/** Where the steps run: the flags of `run` and `resume`. */
const WORKERS = {
  'in the conductor': [],
  'in worker processes': ['--local-workers', '2', '--worker-concurrency', '2'],
} as const;
type Mode = keyof typeof WORKERS;
const MODES = Object.keys(WORKERS) as Mode[];

/** Two steps that finish at once, two held until the test creates `go`, and one after those. */
const SPEC = `study:
  - name: quick
    description: finishes before the interrupt
    run:
      cmd: '${faultStep('0.1')} # $(N)'
  - name: held
    description: runs until the test lets it end
    run:
      cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')} # $(N)'
  - name: after
    description: after every held one
    run:
      cmd: '${faultStep('0.1')}'
      depends: [held_*]
global.parameters:
  N: {values: [0, 1], label: N.%%}
`;

function states(root: string): Record<string, string> {
  try {
    return Object.fromEntries(readStatus(root).map((r) => [r.name, r.state]));
  } catch {
    return {};
  }
}

/** A study whose quick steps finished and whose held steps run; with its process group id. */
async function startHeldStudy(
  name: string,
  mode: Mode,
): Promise<{ dir: string; root: string; run: ReturnType<typeof startMaestro> }> {
  const dir = tempDir(`maestro-fault-${name}-`);
  const root = path.join(dir, 'study');
  const spec = writeSpec(dir, name, SPEC);
  const run = startMaestro(['run', '-o', root, ...WORKERS[mode], '--cancel-grace', `${GRACE_MS}ms`, spec], {
    detached: true,
  });
  await waitFor(
    () => {
      const s = states(root);
      return (
        s['quick_N.0'] === 'FINISHED' &&
        s['quick_N.1'] === 'FINISHED' &&
        s['held_N.0'] === 'RUNNING' &&
        s['held_N.1'] === 'RUNNING'
      );
    },
    60_000,
    'the quick steps to finish and the held ones to run',
  );
  return { dir, root, run };
}

/** Waits until none of `pids` is alive; fails naming the survivors. */
async function allGone(pids: readonly number[], withinMs: number): Promise<void> {
  try {
    await waitFor(() => pids.every((p) => !isAlive(p)), withinMs, 'every process of the run to end');
  } catch {
    const left = pids.filter(isAlive);
    expect.fail(`still running after ${withinMs} ms:\n${describeProcesses(left)}`);
  }
}

/** runs.log of every FINISHED instance, by name. */
function finishedRuns(root: string): Map<string, string> {
  return new Map(
    readStatus(root)
      .filter((r) => r.state === 'FINISHED')
      .map((r) => [r.name, readFileSync(path.join(root, r.workspace, 'runs.log'), 'utf8')]),
  );
}

async function resumeToTheEnd(dir: string, root: string, before: Map<string, string>, mode: Mode): Promise<void> {
  writeFileSync(path.join(dir, 'go'), '');
  const resumed = await maestro(['resume', root, ...WORKERS[mode]], {
    timeout: 120_000,
  });
  expect(resumed.exitCode, resumed.stderr).toBe(0);
  const report = auditStudy(root);
  expect(report.problems).toEqual([]);
  expect(Object.values(report.states).every((s) => s === 'FINISHED')).toBe(true);
  // No step that had finished ran again: its runs.log is as the stop left it.
  for (const [name, log] of before) {
    const workspace = readStatus(root).find((r) => r.name === name)!.workspace;
    expect(readFileSync(path.join(root, workspace, 'runs.log'), 'utf8'), name).toBe(log);
  }
}

describe.each((['SIGINT', 'SIGTERM'] as const).flatMap((signal) => MODES.map((mode) => [signal, mode] as const)))(
  '%s to the process group of maestro run, steps %s',
  (signal, mode) => {
    it('hands back the running steps, stops everything within the cancel grace, and resume finishes', async () => {
      const { dir, root, run } = await startHeldStudy(`int-${signal.toLowerCase()}`, mode);
      const family = processFamily(run.pid!);
      // The conductor, its Redis, the launcher(s) and the held steps at least (and two workers).
      expect(family.length, describeProcesses(family)).toBeGreaterThanOrEqual(mode === 'in the conductor' ? 4 : 6);
      signalGroup(run.pid!, signal);
      await allGone(family, GRACE_MS + SLACK_MS);
      const result = await run;
      const again = signal === 'SIGINT' ? 'press Ctrl-C again' : 'send SIGTERM again';
      expect(result.all).toContain(`stopping: 2 running steps handed back; ${again} to stop at once`);
      expect(result.all).toContain(`Study stopped before its end. Continue it with: maestro resume ${root}`);
      expect(result.exitCode, String(result.all)).toBe(130);
      const status = JSON.parse(readFileSync(path.join(root, 'meta/status.json'), 'utf8')) as { state: string };
      expect(status.state).toBe('STOPPED');
      // Handed back, not failed: waiting to run again.
      expect(states(root)['held_N.0']).not.toMatch(/RUNNING|FAILED/);
      await resumeToTheEnd(dir, root, finishedRuns(root), mode);
    });
  },
);

describe.each(MODES)('a second SIGINT soon after the first, steps %s', (mode) => {
  it('ends everything at once, nothing left behind; the study can still be resumed', async () => {
    const { dir, root, run } = await startHeldStudy('int-twice', mode);
    const family = processFamily(run.pid!);
    signalGroup(run.pid!, 'SIGINT');
    await waitForOutput(run, /stopping: /);
    signalGroup(run.pid!, 'SIGINT');
    await allGone(family, SLACK_MS);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(130);
    expect(existsSync(path.join(root, 'meta/redis/redis.sock'))).toBe(false);
    await resumeToTheEnd(dir, root, finishedRuns(root), mode);
  });
});

describe.each(MODES)('timeout on maestro resume, steps %s', (mode) => {
  it('its SIGTERM, to the command and then to its group, is one clean stop', async () => {
    const { dir, root, run } = await startHeldStudy('int-timeout', mode);
    signalGroup(run.pid!, 'SIGINT');
    expect((await run).exitCode).toBe(130);
    // timeout puts itself and the command in a group of their own, as it does from a shell.
    const timed = execa('timeout', ['600', process.execPath, MAESTRO_BIN, 'resume', root, ...WORKERS[mode]], {
      reject: false,
      all: true,
    });
    try {
      await waitFor(
        () => states(root)['held_N.0'] === 'RUNNING' && states(root)['held_N.1'] === 'RUNNING',
        60_000,
        'the held steps to run again',
      );
      const family = processFamily(timed.pid!);
      // What timeout does when its time is up (or when it is signalled itself, as here).
      process.kill(timed.pid!, 'SIGTERM');
      await allGone(family, 30_000 + SLACK_MS);
      const result = await timed;
      expect(result.all).toContain('stopping: 2 running steps handed back; send SIGTERM again to stop at once');
      expect(result.all).not.toContain('stopping at once');
      expect(result.all).toContain(`Study stopped before its end. Continue it with: maestro resume ${root}`);
    } finally {
      timed.kill('SIGKILL');
    }
    await resumeToTheEnd(dir, root, finishedRuns(root), mode);
  });
});
