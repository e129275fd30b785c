/** A worker running steps: workspace, files, exit codes, walltime, rejections, simulate. */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { PROTOCOL_VERSION, stepJobId, studyWorkersKey, workerKey, workersKey, WorkerRecord } from '@maestro/protocol';
import { liveGroupMembers, makeStudy, readPidFile, startTestWorker, tempDir, Tracker } from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());

describe('maestro-worker runs steps', () => {
  it('runs a step in its workspace, streams .out/.err and reports success', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { config } = await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({
      index: 0,
      script: '#!/bin/bash\npwd\necho "out $MAESTRO_STEP run $MAESTRO_RUN"\necho err-line >&2\n',
      env: { GREETING: 'hello' },
    });

    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      attempt: 1,
      run: 1,
      worker: config.name,
    });
    expect(result.pid).toBeGreaterThan(0);
    expect(result.endMs).toBeGreaterThanOrEqual(result.startMs);
    const ws = path.join(study.root, 'step_0');
    expect(readFileSync(path.join(ws, 'step_0.out'), 'utf8')).toBe(`${ws}\nout step_0 run 1\n`);
    expect(readFileSync(path.join(ws, 'step_0.err'), 'utf8')).toBe('err-line\n');
    expect(statSync(path.join(ws, 'step_0.sh')).mode & 0o777).toBe(0o755);
    const events = await study.events();
    expect(events.map((e) => `${e.type}:${e.run}`)).toEqual(['started:1', 'result:1']);

    // The worker announced itself and the study it works on.
    const record = WorkerRecord.parse(await study.redis.hgetall(workerKey(study.prefix, config.name)));
    expect(record).toMatchObject({ name: config.name, slots: 2, state: 'running', queues: 'steps' });
    expect(await study.redis.zscore(workersKey(study.prefix), config.name)).not.toBeNull();
    expect(JSON.parse((await study.redis.hget(studyWorkersKey(study.prefix, study.studyId), config.name))!)).toEqual({
      host: config.host,
    });
  });

  it('writes no started event for a step that ends before announceDelayMs, only its result', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, {}, { announceDelayMs: 60_000 });
    await study.add({ index: 0, script: '#!/bin/bash\ntrue\n' });

    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'succeeded', run: 1 });
    expect(result.startMs).toBeGreaterThan(0);
    expect((await study.events()).map((e) => `${e.type}:${e.run}`)).toEqual(['result:1']);
  });

  it('announces a step still running after announceDelayMs, then reports its result', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { config } = await startTestWorker(tracker, redisUrl, study.prefix, {}, { announceDelayMs: 100 });
    const go = path.join(tempDir(), 'go');
    await study.add({ index: 0, script: `#!/bin/bash\nwhile [ ! -e ${go} ]; do sleep 0.05; done\n` });

    await study.waitForStarted(0, 1);
    const [started] = await study.events();
    expect(started).toMatchObject({ type: 'started', index: 0, attempt: 1, run: 1, worker: config.name });
    writeFileSync(go, '');
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'succeeded', run: 1 });
    expect((await study.events()).map((e) => `${e.type}:${e.run}`)).toEqual(['started:1', 'result:1']);
  });

  it('reports a non-zero exit as failed and keeps earlier output as .out.1', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({ index: 1, script: '#!/bin/bash\necho first\nexit 3\n' });
    const failed = await study.waitForResult((r) => r.index === 1 && r.attempt === 1);
    expect(failed).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, message: 'exited with code 3' });

    await study.add({ index: 1, attempt: 2, script: '#!/bin/bash\necho second\n' });
    const retried = await study.waitForResult((r) => r.index === 1 && r.attempt === 2);
    expect(retried).toMatchObject({ outcome: 'succeeded', run: 1 });
    const ws = path.join(study.root, 'step_1');
    expect(readFileSync(path.join(ws, 'step_1.out.1'), 'utf8')).toBe('first\n');
    expect(readFileSync(path.join(ws, 'step_1.out'), 'utf8')).toBe('second\n');
    expect(existsSync(path.join(ws, 'step_1.err.1'))).toBe(false); // empty output is not kept
  });

  it('writes a restart script, expands $(LAUNCHER) to nothing and reports a signal death as failed', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({
      index: 2,
      kind: 'restart',
      script: '#!/bin/bash\n$(LAUNCHER)[1n, 2p] echo launched\nkill -SEGV $$\n',
    });
    const result = await study.waitForResult((r) => r.index === 2);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGSEGV' });
    expect(result.message).toMatch(/killed by signal SIGSEGV, not sent by the worker/);
    const ws = path.join(study.root, 'step_2');
    expect(readFileSync(path.join(ws, 'step_2.restart.sh'), 'utf8')).toBe(
      '#!/bin/bash\n echo launched\nkill -SEGV $$\n',
    );
    expect(readFileSync(path.join(ws, 'step_2.out'), 'utf8')).toBe('launched\n');
  });

  it('kills the whole process group at the walltime and reports timedout', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({
      index: 3,
      timeoutMs: 500,
      script: '#!/bin/bash\necho $$ > leader.pid\nsleep 100 & sleep 100\nwait\n',
    });
    const result = await study.waitForResult((r) => r.index === 3);
    expect(result).toMatchObject({ outcome: 'timedout', signal: 'SIGTERM' });
    expect(result.message).toMatch(/walltime of 00:00:01/);
    const leader = await readPidFile(path.join(study.root, 'step_3', 'leader.pid'));
    expect(result.pid).toBe(leader);
    // Reported only once nothing of the group is left.
    expect(liveGroupMembers(leader)).toEqual([]);
  });

  it('fails a step whose workspace cannot be created, naming the path and errno', async () => {
    const root = tempDir();
    writeFileSync(path.join(root, 'a-file'), 'not a folder');
    const study = await makeStudy(redisUrl, tracker, { workspaceRoot: path.join(root, 'a-file') });
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({ index: 4, script: '#!/bin/bash\ntrue\n' });
    const result = await study.waitForResult((r) => r.index === 4);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: null, pid: 0 });
    expect(result.message).toBe(`cannot create ${path.join(root, 'a-file', 'step_4')}: ENOTDIR (not a directory)`);
  });

  it('fails a step whose interpreter does not exist', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({ index: 5, interpreter: ['/no/such/shell'], script: '#!/no/such/shell\n' });
    const result = await study.waitForResult((r) => r.index === 5);
    expect(result).toMatchObject({ outcome: 'failed', pid: 0 });
    expect(result.message).toMatch(/^cannot start \/no\/such\/shell: ENOENT/);
  });

  it('rejects malformed and foreign jobs without crashing, then runs the next step', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { logs, worker } = await startTestWorker(tracker, redisUrl, study.prefix);
    const badId = stepJobId(study.studyId, 6, 1);
    await study.queue.add(
      'step',
      { protocol: PROTOCOL_VERSION + 1, studyId: study.studyId, index: 6, attempt: 1 },
      { jobId: badId },
    );
    await study.queue.add('step', 'not even an object', { jobId: 'foreign-job' });

    const rejected = await study.waitForResult((r) => r.index === 6);
    expect(rejected).toMatchObject({ outcome: 'rejected', pid: 0, run: 1 });
    expect(rejected.message).toMatch(
      new RegExp(`^not a step job this worker can run \\(protocol ${PROTOCOL_VERSION}\\): protocol: `),
    );
    await expect.poll(() => study.queue.getJobState('foreign-job')).toBe('failed');
    await expect.poll(() => study.queue.getJobState(badId)).toBe('failed');
    expect(logs.lines.filter((l) => l['msg'] === 'malformed step job rejected').map((l) => l['jobId'])).toEqual(
      expect.arrayContaining([badId, 'foreign-job']),
    );

    await study.add({ index: 7, script: '#!/bin/bash\ntrue\n' });
    expect(await study.waitForResult((r) => r.index === 7)).toMatchObject({ outcome: 'succeeded' });
    expect(worker.state).toBe('running');
  });

  it('refuses to run a step of a cancelled study', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { logs } = await startTestWorker(tracker, redisUrl, study.prefix);
    await study.redis.hset(`${study.prefix}:study:${study.studyId}`, 'cancelled', '1');
    const id = await study.add({ index: 0, script: '#!/bin/bash\ntouch ran\n' });
    await expect
      .poll(() => logs.lines.some((l) => l['msg'] === 'step not run: claim refused' && l['jobId'] === id))
      .toBe(true);
    expect(await study.events()).toEqual([]);
    expect(existsSync(path.join(study.root, 'step_0'))).toBe(false);
  });

  it('--simulate reports success without creating the workspace', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, { simulate: true });
    await study.add({ index: 0, script: '#!/bin/bash\nexit 1\n' });
    const result = await study.waitForResult((r) => r.index === 0);
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, pid: 0 });
    expect(existsSync(path.join(study.root, 'step_0'))).toBe(false);
  });

  it('takes steps from several queues, within one concurrency limit', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, { queues: 'sim,post', concurrency: 1 });
    // Each step fails (exit 9) if another one runs at the same time.
    const script = '#!/bin/bash\nmkdir "$SHARED/busy" || exit 9\nsleep 0.2\nrmdir "$SHARED/busy"\n';
    const env = { SHARED: tempDir() };
    for (const index of [0, 1, 2, 3]) await study.add({ index, script, env }, index % 2 ? 'post' : 'sim');
    for (const index of [0, 1, 2, 3]) {
      expect(await study.waitForResult((r) => r.index === index)).toMatchObject({ outcome: 'succeeded' });
    }
  });

  it('kills what a finished step left running in its process group', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix);
    await study.add({ index: 0, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 300 &\necho left\n' });
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(liveGroupMembers(await readPidFile(path.join(study.root, 'step_0', 'leader.pid')))).toEqual([]);
  });
});
