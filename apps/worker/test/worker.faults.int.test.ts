/**
 * Workers that die or freeze mid-step, as real processes (the built `maestro-worker`; run
 * `npx tsc -b` first). What must hold: a dead worker's steps die with it, the attempt runs again
 * elsewhere as the next run, and a worker waking up after its step went elsewhere cannot
 * overwrite the newer result; and an older attempt's job brought back by a failover after a newer
 * attempt succeeded is answered with that success, not run again.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { fenceKey } from '@maestro/protocol';
import {
  liveGroupMembers,
  liveProcesses,
  liveWithMarker,
  makeStudy,
  ipcFds,
  LAUNCHER_COMMAND,
  procState,
  readPidFile,
  startOneSlotWorker,
  startTestWorker,
  Tracker,
  assertWorkerBuilt,
} from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());
beforeAll(assertWorkerBuilt);

/** Long enough for a lock to expire and the step to be re-delivered (about 20 s). */
const REDELIVERY_MS = 45_000;

describe('maestro-worker under faults', () => {
  it('kills the steps of a SIGKILLed worker; another worker runs the attempt again as run 2', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const marker = `m${randomUUID().slice(0, 12)}`;
    const w1 = await startOneSlotWorker(tracker, redisUrl, study.prefix, 'doomed');
    await study.add({
      index: 0,
      script: [
        '#!/bin/bash',
        'echo $$ > leader.$MAESTRO_RUN.pid',
        'if [ "$MAESTRO_RUN" = 1 ]; then',
        '  sleep 300 &',
        `  bash -c 'sleep 300; echo ${marker}' &`,
        '  wait',
        'fi',
        'echo "run $MAESTRO_RUN done"',
        '',
      ].join('\n'),
    });
    await study.waitForStarted(0, 1);
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.1.pid'));
    await vi.waitFor(() => expect(liveWithMarker(marker)).toHaveLength(1), { timeout: 10_000 });
    const group = liveGroupMembers(leader);
    expect(group.length).toBeGreaterThanOrEqual(3);

    // The launcher reads a pipe (a socket pair) from the worker, and no step process holds a pipe
    // or socket the worker opened (its end of that pair among them): only the worker's death
    // can close the launcher's stdin. (Fds the worker itself inherited are not its own.)
    const reaper = liveProcesses().find((p) => p.ppid === w1.pid && LAUNCHER_COMMAND.test(p.cmdline));
    expect(reaper).toBeDefined();
    expect(ipcFds(reaper!.pid).get(0)).toMatch(/^(pipe|socket):/);
    const inherited = new Set(ipcFds(process.pid).values());
    const workerOwn = new Set([...ipcFds(w1.pid).values()].filter((fd) => !inherited.has(fd)));
    expect(workerOwn.size).toBeGreaterThan(0);
    for (const p of group) expect([...ipcFds(p.pid).values()].filter((fd) => workerOwn.has(fd))).toEqual([]);

    w1.child.kill('SIGKILL');
    expect(await w1.exited).toBe('SIGKILL');
    await vi.waitFor(() => expect(liveGroupMembers(leader)).toEqual([]), { timeout: 10_000, interval: 100 });
    expect(liveWithMarker(marker)).toEqual([]);
    await vi.waitFor(() => expect(procState(reaper!.pid) ?? 'Z').toBe('Z'), { timeout: 10_000 });

    await startTestWorker(tracker, redisUrl, study.prefix);
    const result = await study.waitForResult((r) => r.index === 0, REDELIVERY_MS);
    expect(result).toMatchObject({ outcome: 'succeeded', attempt: 1, run: 2 });
    expect((await study.events()).map((e) => `${e.type}:${e.run}`)).toEqual(['started:1', 'started:2', 'result:2']);
  });

  it('refuses the late result of a worker frozen past its lock; the re-delivered run counts', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w1 = await startOneSlotWorker(tracker, redisUrl, study.prefix, 'frozen');
    const ws = path.join(study.root, 'step_0');
    await study.add({
      index: 0,
      script:
        '#!/bin/bash\necho $$ > leader.$MAESTRO_RUN.pid\nuntil [ -e release ]; do sleep 0.05; done\necho "run $MAESTRO_RUN"\n',
    });
    await study.waitForStarted(0, 1);
    const leader1 = await readPidFile(path.join(ws, 'leader.1.pid'));

    // Freeze the worker and its step for longer than the lock.
    w1.child.kill('SIGSTOP');
    process.kill(-leader1, 'SIGSTOP');
    const { config: c2 } = await startTestWorker(tracker, redisUrl, study.prefix);
    await study.waitForStarted(0, 2, REDELIVERY_MS);
    writeFileSync(path.join(ws, 'release'), '');
    const accepted = await study.waitForResult((r) => r.index === 0);
    expect(accepted).toMatchObject({ run: 2, outcome: 'succeeded', worker: c2.name });

    // The frozen step finishes on its own while its worker is still frozen (its launcher reaps
    // it, or it waits as a zombie)...
    process.kill(-leader1, 'SIGCONT');
    await vi.waitFor(() => expect(procState(leader1) ?? 'Z').toBe('Z'), { timeout: 10_000 });
    // ...and when the worker wakes up, the fence refuses its result.
    w1.child.kill('SIGCONT');
    await w1.waitForLog(/late result refused/);
    expect((await study.results()).map((r) => `${r.run}:${r.outcome}`)).toEqual(['2:succeeded']);

    w1.child.kill('SIGTERM');
    expect(await w1.exited).toBe(0);
    expect(w1.stderr()).not.toMatch(/"level":50/); // nothing a person needs to look at
  });

  it('kills, unreported, a step still running when its worker wakes up to find its lock lost', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w1 = await startOneSlotWorker(tracker, redisUrl, study.prefix, 'sleeper');
    await study.add({
      index: 0,
      script:
        '#!/bin/bash\necho $$ > leader.$MAESTRO_RUN.pid\nif [ "$MAESTRO_RUN" = 1 ]; then sleep 300 & wait; fi\necho "run $MAESTRO_RUN"\n',
    });
    await study.waitForStarted(0, 1);
    const leader1 = await readPidFile(path.join(study.root, 'step_0', 'leader.1.pid'));

    // Freeze only the worker: its step goes on running while the attempt is re-delivered.
    w1.child.kill('SIGSTOP');
    await startTestWorker(tracker, redisUrl, study.prefix);
    expect(await study.waitForResult((r) => r.index === 0, REDELIVERY_MS)).toMatchObject({
      run: 2,
      outcome: 'succeeded',
    });
    expect(liveGroupMembers(leader1).length).toBeGreaterThan(0);

    w1.child.kill('SIGCONT');
    await w1.waitForLog(/killing step: its lock was lost/);
    await w1.waitForLog(/result not reported/);
    expect(liveGroupMembers(leader1)).toEqual([]);
    expect((await study.results()).map((r) => `${r.run}:${r.outcome}`)).toEqual(['2:succeeded']);
    w1.child.kill('SIGTERM');
    expect(await w1.exited).toBe(0);
  });
});

describe('maestro-worker after a Redis failover lost writes', () => {
  it("answers an older attempt's job that came back after a newer attempt succeeded with that success; the work is not done again", async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { logs } = await startTestWorker(tracker, redisUrl, study.prefix);
    const script = '#!/bin/bash\necho "$MAESTRO_ATTEMPT $$" >> work.log\n';
    await study.add({ index: 0, attempt: 2, script });
    const newer = await study.waitForResult((r) => r.index === 0 && r.attempt === 2);
    expect(newer.outcome).toBe('succeeded');

    // The failover: the new primary lacks the fence entry of attempt 2 (the workers' writes), and
    // the conductor has not written its state again yet; attempt 1's job is back in the queue.
    await study.redis.hdel(fenceKey(study.prefix, study.studyId), '0');
    await study.add({ index: 0, attempt: 1, script });
    const older = await study.waitForResult((r) => r.index === 0 && r.attempt === 1);
    expect(older).toMatchObject({ outcome: 'succeeded', pid: newer.pid, startMs: newer.startMs });
    expect(readFileSync(path.join(study.root, 'step_0', 'work.log'), 'utf8')).toBe(`2 ${newer.pid}\n`);
    expect(logs.text()).toContain('result recovered from the workspace');
  });
});
