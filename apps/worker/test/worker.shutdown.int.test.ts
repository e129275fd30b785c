/**
 * Stopping steps and workers on purpose: SIGTERM drain, a second signal, cancel through pub/sub,
 * the idle timeout; and the Redis password staying out of logs, `ps` and step environments.
 * Uses the built `maestro-worker` (run `npx tsc -b` first) where real signals matter.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { controlChannel, workerKey, workersKey } from '@maestro/protocol';
import { startRedisServer } from '../../../test/helpers/redis-server.js';
import {
  liveGroupMembers,
  liveProcesses,
  makeStudy,
  readPidFile,
  spawnWorker,
  startTestWorker,
  tempDir,
  Tracker,
  assertWorkerBuilt,
} from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());
beforeAll(assertWorkerBuilt);

describe('stopping maestro-worker', () => {
  it('drains on SIGTERM: no new steps, finishing steps report, the rest are interrupted after the grace', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const name = `drainer-${randomUUID().slice(0, 4)}`;
    const w = spawnWorker(tracker, [
      '--redis',
      redisUrl,
      '--prefix',
      study.prefix,
      '--concurrency',
      '2',
      '--shutdown-grace',
      '5s',
      '--name',
      name,
    ]);
    await w.waitForLog(/worker started/);
    await study.add({ index: 0, script: '#!/bin/bash\nuntil [ -e release ]; do sleep 0.05; done\necho finished\n' });
    await study.add({ index: 1, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 300 & wait\n' });
    await study.waitForStarted(0, 1);
    await study.waitForStarted(1, 1);
    const leader = await readPidFile(path.join(study.root, 'step_1', 'leader.pid'));

    w.child.kill('SIGTERM');
    await w.waitForLog(/worker draining/);
    const late = await study.add({ index: 2, script: '#!/bin/bash\ntouch ran\n' });
    writeFileSync(path.join(study.root, 'step_0', 'release'), '');
    expect(await w.exited).toBe(0);

    const results = await study.results();
    expect(results.find((r) => r.index === 0)).toMatchObject({ outcome: 'succeeded' });
    expect(results.find((r) => r.index === 1)).toMatchObject({
      outcome: 'interrupted',
      signal: 'SIGTERM',
      message: `killed: worker ${name} shut down`,
    });
    expect(liveGroupMembers(leader)).toEqual([]);
    // The step that arrived during the drain was left in the queue for another worker.
    expect((await study.events()).filter((e) => e.index === 2)).toEqual([]);
    expect(await study.queue.getJobState(late)).toBe('waiting');
    // A clean exit removes the worker from the fleet at once.
    expect(await study.redis.exists(workerKey(study.prefix, name))).toBe(0);
    expect(await study.redis.zscore(workersKey(study.prefix), name)).toBeNull();
  });

  it('kills running steps at once on a second signal', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w = spawnWorker(tracker, ['--redis', redisUrl, '--prefix', study.prefix, '--shutdown-grace', '1h']);
    await w.waitForLog(/worker started/);
    // A step that ignores SIGTERM: only the second signal's SIGKILL ends it.
    await study.add({ index: 0, script: "#!/bin/bash\ntrap '' TERM\necho $$ > leader.pid\nsleep 300 & wait\n" });
    await study.waitForStarted(0, 1);
    const leader = await readPidFile(path.join(study.root, 'step_0', 'leader.pid'));
    w.child.kill('SIGTERM');
    await w.waitForLog(/worker draining/);
    w.child.kill('SIGINT');
    expect(await w.exited).toBe(0);
    expect(await study.results()).toEqual([
      expect.objectContaining({ index: 0, outcome: 'interrupted', signal: 'SIGKILL' }),
    ]);
    expect(liveGroupMembers(leader)).toEqual([]);
  });

  it('cancels running steps when the conductor publishes a cancel', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: '2' });
    for (const index of [0, 1]) {
      await study.add({ index, script: '#!/bin/bash\necho $$ > leader.pid\nsleep 300 & sleep 301\n' });
    }
    await study.waitForStarted(0, 1);
    await study.waitForStarted(1, 1);
    const leaders = await Promise.all([0, 1].map((i) => readPidFile(path.join(study.root, `step_${i}`, 'leader.pid'))));

    // Only instance 0 first, then the whole study.
    await study.redis.publish(
      controlChannel(study.prefix),
      JSON.stringify({ type: 'cancel', studyId: study.studyId, indices: [0] }),
    );
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({
      outcome: 'cancelled',
      message: 'killed: the study was cancelled',
    });
    expect(liveGroupMembers(leaders[0]!)).toEqual([]);
    expect(liveGroupMembers(leaders[1]!).length).toBeGreaterThan(0);

    await study.redis.hset(`${study.prefix}:study:${study.studyId}`, 'cancelled', '1');
    await study.redis.publish(controlChannel(study.prefix), JSON.stringify({ type: 'cancel', studyId: study.studyId }));
    expect(await study.waitForResult((r) => r.index === 1)).toMatchObject({ outcome: 'cancelled' });
    expect(liveGroupMembers(leaders[1]!)).toEqual([]);
  });

  it('keeps its reaper through a SIGTERM sent to its whole process group, as batch systems send it', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w = spawnWorker(
      tracker,
      ['--redis', redisUrl, '--prefix', study.prefix, '--shutdown-grace', '1s'],
      {},
      { detached: true },
    );
    await w.waitForLog(/worker started/);
    await study.add({ index: 0, script: '#!/bin/bash\nsleep 30\n' });
    await study.waitForStarted(0, 1);
    process.kill(-w.pid, 'SIGTERM');
    expect(await w.exited).toBe(0);
    expect(await study.results()).toEqual([expect.objectContaining({ index: 0, outcome: 'interrupted' })]);
    expect(w.stderr()).not.toMatch(/reaper exited/);
  });

  it('exits 0 after --idle-timeout with nothing to do', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const w = spawnWorker(tracker, ['--redis', redisUrl, '--prefix', study.prefix, '--idle-timeout', '1s']);
    await w.waitForLog(/worker started/);
    await study.add({ index: 0, script: '#!/bin/bash\ntrue\n' });
    expect(await w.exited).toBe(0);
    expect(await study.results()).toEqual([expect.objectContaining({ index: 0, outcome: 'succeeded' })]);
    expect(w.stderr()).toMatch(/idle timeout: stopping/);
  });
});

describe('the Redis password', () => {
  it('never shows in logs, `ps` or the step environment when read from a file', async () => {
    const password = `pw-${randomUUID()}`;
    const server = tracker.track(await startRedisServer({ password }), (s) => s.stop());
    const file = path.join(tempDir(), 'redis-password');
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    const study = await makeStudy(server.url, tracker);
    const bare = `redis://127.0.0.1:${server.port}`;

    // Through the flag, and (for a second worker) through the environment, with debug logs.
    const w = spawnWorker(tracker, [
      '--redis',
      bare,
      '--redis-password-file',
      file,
      '--prefix',
      study.prefix,
      '--log-level',
      'debug',
    ]);
    await w.waitForLog(/worker started/);
    await study.add({ index: 0, script: '#!/bin/bash\nenv\nps -eo args\n' });
    expect(await study.waitForResult((r) => r.index === 0)).toMatchObject({ outcome: 'succeeded' });
    const out = readFileSync(path.join(study.root, 'step_0', 'step_0.out'), 'utf8');
    expect(out).toContain('MAESTRO_WORKSPACE=');
    expect(out).not.toContain(password);
    for (const p of liveProcesses()) expect(p.cmdline).not.toContain(password);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.stderr()).toMatch(/"msg":"worker stopped"/);
    expect(w.stderr()).not.toContain(password);

    const w2 = spawnWorker(tracker, ['--prefix', study.prefix, '--log-level', 'debug'], {
      MAESTRO_REDIS_URL: server.url,
      MAESTRO_REDIS_PASSWORD_FILE: file,
    });
    await w2.waitForLog(/worker started/);
    await study.add({ index: 1, script: '#!/bin/bash\nenv\n' });
    expect(await study.waitForResult((r) => r.index === 1)).toMatchObject({ outcome: 'succeeded' });
    const env = readFileSync(path.join(study.root, 'step_1', 'step_1.out'), 'utf8');
    expect(env).not.toContain(password);
    expect(env).not.toMatch(/MAESTRO_REDIS_(URL|PASSWORD_FILE)=/);
    w2.child.kill('SIGTERM');
    expect(await w2.exited).toBe(0);
    expect(w2.stderr()).not.toContain(password);
  });

  it('given in --redis, is warned about and still kept out of the logs', async () => {
    const password = `pw-${randomUUID()}`;
    const server = tracker.track(await startRedisServer({ password }), (s) => s.stop());
    const study = await makeStudy(server.url, tracker);
    const w = spawnWorker(tracker, ['--redis', server.url, '--prefix', study.prefix, '--log-level', 'debug']);
    await w.waitForLog(/worker started/);
    expect(w.stderr()).toMatch(/visible to other users in `ps`/);
    expect(w.stderr()).toContain(`redis://:***@127.0.0.1:${server.port}`);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.stderr()).not.toContain(password);
  });
});
