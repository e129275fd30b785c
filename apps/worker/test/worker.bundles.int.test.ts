/**
 * Bundles (StepJob.more): the instances one job carries run one after the other in one slot,
 * each claimed and reported through the fence on its own. What must hold: every member runs once
 * in its own workspace; a member the fence refuses is skipped; a bundle past its budget hands its
 * unstarted members back to the conductor; a worker that drains or dies mid-bundle leaves the
 * rest to another worker, which never runs a finished member again. Chains (StepJob.chain): a
 * member runs only after the one before it succeeded here; the rest of a broken chain goes back
 * to the conductor unstarted.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { STATE_RECORD_BYTES, stateKey, StepState, type BundleMember } from '@maestro/protocol';
import { assertWorkerBuilt, makeStudy, startOneSlotWorker, startTestWorker, Tracker, type Study } from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterEach(() => tracker.closeAll());
beforeAll(assertWorkerBuilt);

/** A member as the conductor writes one: instance `index`, attempt 1, in `<root>/step_<index>`. */
function member(root: string, index: number, script: string): BundleMember {
  return {
    index,
    attempt: 1,
    name: `step_${index}`,
    workspace: path.join(root, `step_${index}`),
    fileName: `step_${index}`,
    kind: 'cmd',
    script,
    env: {},
  };
}

/** Adds one job carrying instances `indices` (the first is the job), each running `script`. */
async function addBundle(
  study: Study & { root: string },
  indices: number[],
  script: string,
  bundleBudgetMs = 60_000,
): Promise<string> {
  const [first, ...rest] = indices;
  return study.add({
    index: first!,
    script,
    more: rest.map((i) => member(study.root, i, script)),
    bundleBudgetMs,
  });
}

/** Adds one chain of instances `indices`, each running `script`. */
async function addChain(study: Study & { root: string }, indices: number[], script: string): Promise<string> {
  const [first, ...rest] = indices;
  return study.add({ index: first!, script, more: rest.map((i) => member(study.root, i, script)), chain: true });
}

const order = (events: { type: string; index: number; run: number }[]): string[] =>
  events.map((e) => `${e.type}:${e.index}:${e.run}`);

describe('bundles', () => {
  it('runs each member once, in order, in its own workspace, each claimed and reported on its own', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const { config } = await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1 });
    await addBundle(study, [0, 1, 2, 3], '#!/bin/bash\necho "$MAESTRO_STEP $MAESTRO_STEP_INDEX $PWD"\n');

    await study.waitForResult((r) => r.index === 3);
    const events = await study.events();
    // The report of one member travels with the claim of the next: result k, then started k+1.
    expect(order(events)).toEqual([
      'started:0:1',
      'result:0:1',
      'started:1:1',
      'result:1:1',
      'started:2:1',
      'result:2:1',
      'started:3:1',
      'result:3:1',
    ]);
    const results = await study.results();
    for (const r of results) expect(r).toMatchObject({ outcome: 'succeeded', exitCode: 0, worker: config.name });
    for (let k = 1; k < results.length; k++) expect(results[k]!.startMs).toBeGreaterThanOrEqual(results[k - 1]!.endMs);
    for (const i of [0, 1, 2, 3]) {
      const ws = path.join(study.root, `step_${i}`);
      expect(readFileSync(path.join(ws, `step_${i}.out`), 'utf8')).toBe(`step_${i} ${i} ${ws}\n`);
    }
  });

  it('skips a member the fence refuses and runs the others', async () => {
    const study = await makeStudy(redisUrl, tracker);
    // Instance 1 is FINISHED already (a newer conductor decided it): its claim is refused.
    const done = Buffer.alloc(1, StepState.FINISHED);
    await study.redis.setrange(stateKey(study.prefix, study.studyId), 1 * STATE_RECORD_BYTES, done);
    const { logs } = await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1 });
    await addBundle(study, [0, 1, 2], '#!/bin/bash\necho ran\n');

    await study.waitForResult((r) => r.index === 2);
    expect(order(await study.events())).toEqual(['started:0:1', 'result:0:1', 'started:2:1', 'result:2:1']);
    expect(existsSync(path.join(study.root, 'step_1'))).toBe(false);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ index: 1, reason: 'final', msg: 'step not run: claim refused' }),
    );
  });

  it('hands the members not yet started back to the conductor once the bundle is past its budget', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1 });
    await addBundle(study, [0, 1, 2], '#!/bin/bash\nsleep 0.3\n', 100);

    await study.waitForResult((r) => r.index === 2);
    const results = await study.results();
    expect(results.map((r) => [r.index, r.outcome])).toEqual([
      [0, 'succeeded'],
      [1, 'interrupted'],
      [2, 'interrupted'],
    ]);
    expect(results[1]!.message).toMatch(/^not started: its bundle had run \d+ ms, past its budget of 100 ms/);
    // Never started: no workspace, no script, no output.
    expect(existsSync(path.join(study.root, 'step_1'))).toBe(false);
    expect(existsSync(path.join(study.root, 'step_2'))).toBe(false);
  });

  it('a worker that drains mid-bundle finishes its member and gives the rest to another worker', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const first = await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1, name: 'first' });
    await addBundle(study, [0, 1, 2], '#!/bin/bash\nsleep 0.5\necho "$MAESTRO_WORKER"\n');
    await study.waitForStarted(0, 1);
    const closed = first.worker.close(); // a SIGTERM: running steps get the shutdown grace
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1, name: 'second' });
    await closed;

    await study.waitForResult((r) => r.index === 2);
    const results = await study.results();
    expect(results.map((r) => [r.index, r.outcome, r.worker, r.run])).toEqual([
      [0, 'succeeded', 'first', 1],
      [1, 'succeeded', 'second', 1],
      [2, 'succeeded', 'second', 1],
    ]);
    // The finished member was never started again.
    expect((await study.events()).filter((e) => e.type === 'started' && e.index === 0)).toHaveLength(1);
  });

  it('after a SIGKILL mid-bundle, the re-delivered job runs the member that was running and the rest, never a finished one', async () => {
    const study = await makeStudy(redisUrl, tracker);
    const doomed = await startOneSlotWorker(tracker, redisUrl, study.prefix, 'doomed');
    // Member 1 hangs in its first run; every other run is quick.
    await addBundle(
      study,
      [0, 1, 2],
      '#!/bin/bash\nif [ "$MAESTRO_STEP_INDEX.$MAESTRO_RUN" = 1.1 ]; then sleep 300; fi\necho "run $MAESTRO_RUN"\n',
    );
    await study.waitForStarted(1, 1);
    doomed.child.kill('SIGKILL');
    expect(await doomed.exited).toBe('SIGKILL');
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1, name: 'rescuer' });

    await study.waitForResult((r) => r.index === 2, 60_000);
    const results = await study.results();
    expect(results.map((r) => [r.index, r.run, r.outcome, r.worker])).toEqual([
      [0, 1, 'succeeded', 'doomed'],
      [1, 2, 'succeeded', 'rescuer'],
      [2, 1, 'succeeded', 'rescuer'],
    ]);
    // Member 0 never ran again (a quick step of 'doomed' may have no started event at all: it
    // announces a start only once the step has run 100 ms).
    expect((await study.events()).filter((e) => e.index === 0 && e.run !== 1)).toEqual([]);
    expect(readFileSync(path.join(study.root, 'step_1', 'step_1.out'), 'utf8')).toBe('run 2\n');
  }, 90_000);
});

describe('chains', () => {
  it('runs each member after the one before it succeeded, and stops at one that fails: the rest go back unstarted', async () => {
    const study = await makeStudy(redisUrl, tracker);
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1 });
    await addChain(study, [0, 1, 2, 3], '#!/bin/bash\necho "$MAESTRO_STEP_INDEX"\n[ "$MAESTRO_STEP_INDEX" != 1 ]\n');

    await study.waitForResult((r) => r.index === 3);
    const results = await study.results();
    expect(results.map((r) => [r.index, r.outcome, r.exitCode])).toEqual([
      [0, 'succeeded', 0],
      [1, 'failed', 1],
      [2, 'interrupted', null],
      [3, 'interrupted', null],
    ]);
    expect(results[1]!.startMs).toBeGreaterThanOrEqual(results[0]!.endMs);
    expect(results[2]!.message).toBe('not started: step_1 before it in its chain ended failed; sent back');
    expect(readFileSync(path.join(study.root, 'step_1', 'step_1.out'), 'utf8')).toBe('1\n');
    expect(existsSync(path.join(study.root, 'step_2'))).toBe(false);
    expect(existsSync(path.join(study.root, 'step_3'))).toBe(false);
  });

  it('a member refused (done by a worker that died, say) ends the chain: who knows how it ended', async () => {
    const study = await makeStudy(redisUrl, tracker);
    // Instance 1 is final already: a bundle would run 2 and 3, a chain may not.
    const done = Buffer.alloc(1, StepState.FAILED);
    await study.redis.setrange(stateKey(study.prefix, study.studyId), 1 * STATE_RECORD_BYTES, done);
    await startTestWorker(tracker, redisUrl, study.prefix, { concurrency: 1 });
    await addChain(study, [0, 1, 2, 3], '#!/bin/bash\necho ran\n');

    await study.waitForResult((r) => r.index === 3);
    const results = await study.results();
    expect(results.map((r) => [r.index, r.outcome])).toEqual([
      [0, 'succeeded'],
      [2, 'interrupted'],
      [3, 'interrupted'],
    ]);
    expect(results[1]!.message).toBe('not started: step_1 before it in its chain was not run here (final); sent back');
    expect(existsSync(path.join(study.root, 'step_2'))).toBe(false);
  });
});
