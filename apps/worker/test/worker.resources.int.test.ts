/**
 * A worker's room: cores and GPUs handed out to steps, steps it can never run handed back to the
 * others, walltimes that do not fit the time left, preemption before the allocation's end, and
 * drains asked for by `maestro workers stop`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { controlChannel, drainField, drainKey, workerKey, WorkerRecord } from '@maestro/protocol';
import { launcherOf, liveGroupMembers, makeStudy, readPidFile, startTestWorker, tempDir, Tracker } from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());

const read = (file: string): string => readFileSync(file, 'utf8').trim();

describe('a worker hands out its cores and GPUs', () => {
  it('gives a step procs × cores per task cores, and starts nothing beside it that does not fit', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const running = tempDir();
    const { worker } = await startTestWorker(tracker, redisUrl, study.prefix, { cores: '4', concurrency: '4' });
    // Each step notes who runs beside it, works a little, and leaves.
    const script = (name: string): string =>
      `#!/bin/bash\ntouch ${running}/${name}\nls ${running} | tr '\\n' ' ' > beside.txt\necho "$MAESTRO_CORES" > cores.txt\nsleep 1\nrm ${running}/${name}\n`;
    await study.add({ index: 0, name: 'big', script: script('big'), resources: { procs: 2, coresPerTask: 2 } });
    await study.add({ index: 1, name: 'small1', script: script('small1') });
    await study.add({ index: 2, name: 'small2', script: script('small2') });

    const results = await Promise.all([0, 1, 2].map((i) => study.waitForResult((r) => r.index === i)));
    expect(results.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const ws = (i: number): string => path.join(study.root, `step_${i}`);
    expect(read(path.join(ws(0), 'beside.txt'))).toBe('big');
    expect(read(path.join(ws(0), 'cores.txt'))).toBe('4');
    for (const i of [1, 2]) {
      expect(read(path.join(ws(i), 'beside.txt'))).not.toContain('big');
      expect(read(path.join(ws(i), 'cores.txt'))).toBe('1');
    }
    const record = WorkerRecord.parse(await study.redis.hgetall(workerKey(study.prefix, worker.name)));
    expect(record).toMatchObject({ cores: 4, freeCores: 4, gpus: 0, slots: 4 });
  });

  it('hoards nothing it cannot start: steps waiting for its cores go to a worker with room', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const gate = path.join(tempDir(), 'open');
    const first = await startTestWorker(tracker, redisUrl, study.prefix, { cores: '4', concurrency: '4' });
    // Step 0 holds all the first worker's cores until the gate opens; the others are quick.
    await study.add({
      index: 0,
      script: `#!/bin/bash\nwhile [ ! -e ${gate} ]; do sleep 0.1; done\n`,
      resources: { procs: 4 },
    });
    await study.waitForStarted(0, 1);
    for (const index of [1, 2, 3]) await study.add({ index, script: '#!/bin/bash\ntrue\n', resources: { procs: 4 } });
    const second = await startTestWorker(tracker, redisUrl, study.prefix, { cores: '4', concurrency: '4' });
    // All three run on the second worker while the first is busy: none is kept by the first.
    const quick = await Promise.all([1, 2, 3].map((i) => study.waitForResult((r) => r.index === i, 20_000)));
    expect(quick.map((r) => [r.outcome, r.worker])).toEqual(Array(3).fill(['succeeded', second.config.name]));
    writeFileSync(gate, '');
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({
      outcome: 'succeeded',
      worker: first.config.name,
    });
  });

  it('gives each GPU step its own devices in CUDA_VISIBLE_DEVICES, and a CPU step none', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const gate = tempDir();
    await startTestWorker(tracker, redisUrl, study.prefix, { cores: '4', concurrency: '4', gpus: '0,1,2,3' });
    // The two GPU steps wait for each other, so they hold their devices at the same time.
    const gpuStep = (me: string, other: string): string =>
      `#!/bin/bash\necho "$CUDA_VISIBLE_DEVICES" > gpus.txt\ntouch ${gate}/${me}\nfor i in $(seq 200); do [ -e ${gate}/${other} ] && exit 0; sleep 0.1; done\nexit 1\n`;
    await study.add({ index: 0, script: gpuStep('a', 'b'), resources: { gpus: 2 } });
    await study.add({ index: 1, script: gpuStep('b', 'a'), resources: { gpus: 2 } });
    await study.add({ index: 2, script: '#!/bin/bash\necho "[${CUDA_VISIBLE_DEVICES-unset}]" > gpus.txt\n' });

    const results = await Promise.all([0, 1, 2].map((i) => study.waitForResult((r) => r.index === i)));
    expect(results.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const gpus = [0, 1].map((i) => read(path.join(study.root, `step_${i}`, 'gpus.txt')));
    expect(gpus.every((g) => g.split(',').length === 2)).toBe(true);
    expect(gpus.join(',').split(',').sort()).toEqual(['0', '1', '2', '3']);
    expect(read(path.join(study.root, 'step_2', 'gpus.txt'))).toBe('[]');
  });

  it('hands a step it can never run back to the others, who run it', async () => {
    const study = await makeStudy(redisUrl, tracker);
    // Which worker takes a job back off BullMQ's delayed set is a race (the one blocked on its
    // marker, or whose poll comes first); under load the small one can win it several times
    // in a row. A short delay makes those rounds cheap, so the large one's turn comes soon.
    const aside = { scheduler: 'slurm' as const, handBackDelayMs: 200 };
    const small = await startTestWorker(tracker, redisUrl, study.prefix, { cores: '2' }, aside);
    await study.add({ index: 0, script: '#!/bin/bash\necho "$MAESTRO_CORES"\n', resources: { procs: 4 } });
    await vi.waitFor(() => {
      const line = small.logs.lines.find((l) => l['msg'] === 'step handed back: it cannot run on this worker');
      if (!line) throw new Error('not handed back yet');
      expect(line['reason']).toBe('it can never run on this worker: needs 4 cores on a node (the worker has 2)');
    });
    // Put aside for a moment (not at the head of the queue), never started here.
    expect(await study.events()).toEqual([]);

    const large = await startTestWorker(tracker, redisUrl, study.prefix, { cores: '4' }, aside);
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'succeeded', worker: large.config.name });
    expect(read(path.join(study.root, 'step_0', 'step_0.out'))).toBe('4');
  });
});

describe('a worker inside an allocation', () => {
  it('starts no step whose walltime outlasts the allocation, and preempts the rest before its end', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const endsAt = Date.now() + 8_000;
    const { worker, logs } = await startTestWorker(
      tracker,
      redisUrl,
      study.prefix,
      { preemptMargin: '3s' },
      { allocationEndsAtMs: endsAt, allocationId: 'alloc-1' },
    );
    const record = WorkerRecord.parse(await study.redis.hgetall(workerKey(study.prefix, worker.name)));
    expect(record).toMatchObject({ allocationId: 'alloc-1', allocationEndsAt: endsAt, stopAt: endsAt - 3_000 });

    await study.add({ index: 0, name: 'too-long', timeoutMs: 60_000, script: '#!/bin/bash\ntrue\n' });
    await study.add({ index: 1, name: 'open-ended', script: '#!/bin/bash\necho $$ > leader.pid\nsleep 60\n' });
    const preempted = await study.waitForResult((r) => r.index === 1, 20_000);
    expect(preempted).toMatchObject({ outcome: 'preempted', message: 'stopped: allocation alloc-1 is ending' });
    await worker.stopped; // and it stops, releasing its allocation
    expect(worker.state).toBe('stopped');

    expect((await study.events()).filter((e) => e.index === 0)).toEqual([]);
    const handedBack = logs.lines.find((l) => l['msg'] === 'step handed back: it cannot run on this worker');
    expect(handedBack?.['reason']).toMatch(/^its walltime 00:01:00 does not fit the 00:00:0\d this worker has left$/);
    expect(existsSync(path.join(study.root, 'step_0'))).toBe(false);
  });

  it('hands back a step killed by the scheduler just before the worker hears of it; fails one that exits 143 alone', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { worker } = await startTestWorker(
      tracker,
      redisUrl,
      study.prefix,
      {},
      { scheduler: 'slurm', allocationId: '5' },
    );
    await study.add({ index: 1, script: '#!/bin/bash\nexit 143\n' });
    // The launcher's shell cannot tell `exit 143` from death by SIGTERM; the message says both.
    expect(await study.waitForResult((r) => r.index === 1)).toMatchObject({
      outcome: 'failed',
      message: 'killed by signal SIGTERM, not sent by the worker (or it exited with status 143)',
    });

    await study.add({ index: 0, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 30\n' });
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
    // As scancel does: the step's shell dies first (its sleep killed: exit 143), the worker after.
    process.kill(-leader, 'SIGTERM');
    await vi.waitFor(() => expect(liveGroupMembers(leader)).toEqual([]));
    void worker.close({ preempt: true });
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result.outcome).toBe('preempted');
    expect(result.message).toMatch(/^killed by SIGTERM.* while allocation 5 was stopping$/);
  });

  it('drains when `maestro workers stop` asks: running steps finish, however long the grace', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { worker, config } = await startTestWorker(tracker, redisUrl, study.prefix, { shutdownGrace: '100ms' });
    await study.add({ index: 0, script: '#!/bin/bash\nsleep 1.5\necho done\n' });
    await study.waitForStarted(0, 1);
    await study.redis.publish(controlChannel(study.prefix), JSON.stringify({ type: 'drain', workers: [config.name] }));
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result.outcome).toBe('succeeded');
    await worker.stopped;
  });

  it('drains on a standing request it missed, read at its heartbeat', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { worker } = await startTestWorker(
      tracker,
      redisUrl,
      study.prefix,
      {},
      { allocationId: '77', heartbeatMs: 200 },
    );
    await study.redis.hset(drainKey(study.prefix), drainField.allocation('77'), Date.now());
    await worker.stopped;
    expect(await study.redis.exists(workerKey(study.prefix, worker.name))).toBe(0);
  });

  it('hands back, not fails, a step killed by a signal while its worker stops', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { worker } = await startTestWorker(tracker, redisUrl, study.prefix, { shutdownGrace: '20s' });
    await study.add({ index: 0, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 30\n' });
    await study.waitForStarted(0, 1);
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
    void worker.close();
    await vi.waitFor(() => expect(worker.state).toBe('draining'));
    process.kill(-leader, 'SIGTERM'); // as a scheduler ending the allocation would
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'interrupted', signal: 'SIGTERM' });
    expect(result.message).toMatch(/^killed by SIGTERM while worker .* was stopping$/);
    expect(readdirSync(path.join(study.root, 'step_0'))).toContain('step_0.sh');
  });

  it('hands back, not fails, a step whose launcher is killed while its worker stops', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { worker } = await startTestWorker(tracker, redisUrl, study.prefix, { shutdownGrace: '20s' });
    await study.add({ index: 0, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 30\n' });
    await study.waitForStarted(0, 1);
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
    const launcher = launcherOf(leader)!;
    expect(launcher).toBeGreaterThan(0);
    void worker.close();
    await vi.waitFor(() => expect(worker.state).toBe('draining'));
    process.kill(launcher, 'SIGKILL'); // as a scheduler ending the allocation would
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'interrupted', exitCode: null, signal: null });
    expect(result.message).toMatch(/^ended while worker .* was stopping \(its launcher died\)$/);
    await vi.waitFor(() => expect(liveGroupMembers(leader)).toEqual([]));
  });
});
