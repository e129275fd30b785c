/**
 * The end of an allocation as the worker and its launcher live it, with real signals (the built
 * `maestro-worker`; run `npx tsc -b` first). Schedulers end an allocation with signals: Slurm
 * SIGTERM; Flux SIGALRM at the walltime, SIGTERM and SIGHUP on `flux cancel`, SIGUSR1 from
 * `--signal`, several of them milliseconds apart. Each means "the allocation is ending": running
 * steps are stopped, their process groups are gone and they are reported preempted before the
 * worker exits. And a scheduler that SIGKILLs the worker's process group leaves no step running.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  assertWorkerBuilt,
  launcherOf,
  liveGroupMembers,
  liveWithMarker,
  makeStudy,
  procState,
  readPidFile,
  spawnWorker,
  Tracker,
} from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());
beforeAll(assertWorkerBuilt);

/** A worker as the Flux batch script of `maestro workers launch` starts it (flux is not asked). */
const inFlux = {
  MAESTRO_SCHEDULER: 'flux',
  MAESTRO_ALLOCATION_ID: 'ƒ4Fh9bJX',
  PATH: `/nonexistent-flux:${process.env['PATH'] ?? ''}`,
};
const workerArgs = (prefix: string, name: string): string[] => [
  '--redis',
  redisUrl,
  '--prefix',
  prefix,
  '--name',
  name,
  '--cores',
  '2',
  '--gpus',
  '0',
];

describe('the end of an allocation', () => {
  for (const signal of ['SIGALRM', 'SIGHUP', 'SIGUSR1', 'SIGTERM'] as const) {
    it(`${signal} inside an allocation: running steps stopped and reported preempted, nothing of them left, the worker exits`, async () => {
      const study = await makeStudy(redisUrl, tracker);
      const name = `ending-${randomUUID().slice(0, 4)}`;
      const w = spawnWorker(tracker, workerArgs(study.prefix, name), inFlux);
      await w.waitForLog(/worker started/);
      await study.add({ index: 0, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 300 &\nsleep 301 & wait\n' });
      await study.waitForStarted(0, 1);
      const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));

      w.child.kill(signal);
      expect(await w.exited).toBe(0);
      expect(await study.results()).toEqual([
        expect.objectContaining({
          index: 0,
          outcome: 'preempted',
          message: 'stopped: allocation f4Fh9bJX is ending',
        }),
      ]);
      expect(liveGroupMembers(leader)).toEqual([]);
    });
  }

  it('the several signals of one end (flux cancel: SIGTERM, SIGHUP 8 ms later) are one end: steps keep their kill grace', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w = spawnWorker(tracker, workerArgs(study.prefix, `cancelled-${randomUUID().slice(0, 4)}`), inFlux);
    await w.waitForLog(/worker started/);
    // A step that takes half a second to stop: a second signal taken as "now" would SIGKILL it.
    await study.add({
      index: 0,
      script:
        "#!/bin/bash\necho $$ > leader.pid\ntrap 'sleep 0.5; echo stopped > stopped.txt; exit 0' TERM\nsleep 300 & wait\n",
    });
    await study.waitForStarted(0, 1);
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
    w.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 8));
    w.child.kill('SIGHUP');
    w.child.kill('SIGALRM');
    expect(await w.exited).toBe(0);
    expect(await study.results()).toEqual([expect.objectContaining({ index: 0, outcome: 'preempted' })]);
    expect(readFileSync(path.join(study.root, 'step_0', 'stopped.txt'), 'utf8')).toBe('stopped\n');
    expect(w.stderr()).toMatch(/the allocation is ending already/);
    expect(liveGroupMembers(leader)).toEqual([]);
  });

  for (const launcher of ['compiled', 'script'] as const) {
    it(`the ${launcher} launcher leaves a live worker's signals to it, and outlives a SIGKILL to the worker's process group to end the steps`, async () => {
      const study = await makeStudy(redisUrl, tracker);
      const marker = `m${randomUUID().slice(0, 12)}`;
      const w = spawnWorker(
        tracker,
        workerArgs(study.prefix, `killed-${randomUUID().slice(0, 4)}`),
        { ...inFlux, MAESTRO_LAUNCHER: launcher },
        { detached: true }, // its own process group, as a job shell starts its task
      );
      await w.waitForLog(/worker started/);
      await study.add({
        index: 0,
        script: `#!/bin/bash\necho $$ > leader.pid\nbash -c 'sleep 300; echo ${marker}' &\nwait\n`,
      });
      await study.waitForStarted(0, 1);
      const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
      const launcherPid = launcherOf(leader)!;
      expect(launcherPid).toBeGreaterThan(0);

      // Sent to every process of the job, as Slurm does: the launcher leaves them to the worker.
      for (const signal of ['SIGALRM', 'SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const) process.kill(launcherPid, signal);
      await new Promise((r) => setTimeout(r, 300));
      expect(procState(launcherPid)).not.toBe('Z');
      expect(liveWithMarker(marker)).toHaveLength(1);

      // A job shell ending its task: SIGKILL to the worker's group. The launcher is not in it.
      process.kill(-w.pid, 'SIGKILL');
      expect(await w.exited).toBe('SIGKILL');
      await vi.waitFor(() => expect(liveGroupMembers(leader)).toEqual([]), { timeout: 10_000 });
      expect(liveWithMarker(marker)).toEqual([]);
      await vi.waitFor(() => expect(procState(launcherPid) ?? 'gone').toMatch(/gone|Z/), { timeout: 10_000 });
    });
  }
});
