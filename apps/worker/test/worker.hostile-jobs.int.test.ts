/**
 * Hostile and broken jobs in the queue, against a real `maestro-worker` process: arbitrary JSON
 * values and near-valid StepJobs with one field broken (wrong type, missing, huge, a path that
 * would leave its folder, an index or attempt out of range, another protocol). Whatever arrives,
 * the worker keeps running, fails the BullMQ job without retry, reports `rejected` through the
 * fence when the job names an instance of a study it can see, never creates a file for it, and
 * still runs a good step afterwards.
 *
 * The mutations encode the policy (what must be refused), not the schema: a schema that let one
 * through would fail this test. Uses the built worker (`npx tsc -b` first).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROTOCOL_VERSION, stepJobId, type StepJobInput, type StepResult } from '@maestro/protocol';
import {
  assertWorkerBuilt,
  makeStudy,
  spawnWorker,
  tempDir,
  Tracker,
  type Study,
  type WorkerProcess,
} from './helpers.js';

const redisUrl = inject('redisUrl');
const tracker = new Tracker();
afterAll(() => tracker.closeAll());
beforeAll(assertWorkerBuilt);

/** Instances of the test study: every near-valid job gets its own index below this. */
const INSTANCES = 100_000;
const U32_MAX = 2 ** 32 - 1;
/** `HUGE:<start>` stands for `<start>` plus 300 kB of text, so that counterexamples stay readable. */
const HUGE = (start: string): string => `HUGE:${start}`;
const materialize = (v: unknown): unknown =>
  typeof v === 'string' && v.startsWith('HUGE:') ? `${v.slice(5)}${'x'.repeat(300_000)}` : v;

type Mutation = { field: string; value: unknown } | { field: string; remove: true };

const wrongType = fc.constantFrom<unknown>(null, true, 17, -1.5, 'text', [], ['a'], {}, { a: 1 });
const notFieldValue = (values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof(wrongType, values);

/** For each field of a StepJob, values that must be refused. */
const BAD_VALUES: Record<string, fc.Arbitrary<unknown>> = {
  protocol: fc.oneof(
    fc.integer().filter((n) => n !== PROTOCOL_VERSION),
    fc.constantFrom<unknown>('1', `${PROTOCOL_VERSION}`, null, 0, PROTOCOL_VERSION + 0.5),
  ),
  prefix: notFieldValue(fc.constant('')).filter((v) => typeof v !== 'string' || v === ''),
  studyId: fc.oneof(
    fc.constantFrom<unknown>('', 'a:b', null, 42, ['s']),
    fc.string().map((s) => `${s}:x`),
  ),
  index: fc.oneof(
    fc.integer({ max: -1 }),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.constantFrom<unknown>(U32_MAX + 1, 2 ** 53, 1e300, -0.5, '3', null, [], true),
  ),
  attempt: fc.oneof(
    fc.integer({ max: 0 }),
    fc.double({ noNaN: true, min: 0 }).filter((d) => !Number.isInteger(d)),
    fc.constantFrom<unknown>(U32_MAX + 1, 2 ** 53, 1e300, '1', null, false),
  ),
  name: fc.constantFrom<unknown>('', null, 3, HUGE('n'), ['n']),
  workspace: fc.oneof(
    wrongType.filter((v) => typeof v !== 'string'),
    fc.constantFrom(
      '',
      'relative/ws',
      './ws',
      '../ws',
      'ws',
      '/tmp/study/../../etc',
      '/tmp/study/..',
      '/tmp/./study',
      '/tmp//study',
      '/tmp/study/',
      '/tmp/st\0udy',
      HUGE('/tmp/'),
    ),
    // Any absolute path with a '..' segment somewhere.
    fc
      .tuple(fc.array(fc.stringMatching(/^[\w.-]{1,8}$/), { maxLength: 3 }), fc.array(fc.stringMatching(/^\w{1,8}$/)))
      .map(([before, after]) => `/${[...before, '..', ...after].join('/')}`),
  ),
  fileName: fc.constantFrom<unknown>('', '.', '..', 'a/b', '../up', '/abs', 'a\0b', `f${'n'.repeat(300)}`, 7, null),
  kind: fc.constantFrom<unknown>('run', '', 'CMD', null, 1),
  script: wrongType.filter((v) => typeof v !== 'string'),
  interpreter: fc.constantFrom<unknown>([], [''], '/bin/bash', [1], null, ['/bin/ba\0sh']),
  timeoutMs: fc.constantFrom<unknown>(0, -5, 1.5, '10', null, 2 ** 53),
  resources: fc.constantFrom<unknown>('big', [], { nodes: -1 }, { nodes: 1.5 }, { procs: 0 }, { gpus: -1 }, null),
  env: fc.constantFrom<unknown>('A=B', [], null, { K: 1 }, { '': 'v' }, { 'A=B': 'v' }, { K: 'a\0b' }, { 'A B': 'v' }),
};
const REQUIRED = [
  'protocol',
  'prefix',
  'studyId',
  'index',
  'attempt',
  'name',
  'workspace',
  'fileName',
  'kind',
  'script',
  'interpreter',
];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...Object.keys(BAD_VALUES)).chain((field) => BAD_VALUES[field]!.map((value) => ({ field, value }))),
  fc.constantFrom(...REQUIRED).map((field) => ({ field, remove: true as const })),
);

type Hostile = { kind: 'json'; value: unknown } | { kind: 'mutated'; mutations: Mutation[] };

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })),
  fc.array(mutation, { minLength: 1, maxLength: 3 }).map((mutations) => ({ kind: 'mutated' as const, mutations })),
);

/** studyId/index/attempt as the worker reads them from a job it cannot run (job-runner.ts runRefOf). */
function readableRef(value: unknown): { studyId: string; index: number; attempt: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { studyId, index, attempt } = value as Record<string, unknown>;
  if (typeof studyId !== 'string' || studyId === '' || studyId.includes(':')) return undefined;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > U32_MAX) return undefined;
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1 || attempt > U32_MAX) return undefined;
  return { studyId, index, attempt };
}

describe('hostile jobs in the queue', () => {
  let study: Study & { root: string };
  let worker: WorkerProcess;
  let nextIndex = 0;
  let nextForeign = 0;
  /** What the fence holds per index: the attempt of the last claimed (and reported) run. */
  const fence = new Map<number, number>();

  beforeAll(async () => {
    study = await makeStudy(redisUrl, tracker, { instances: INSTANCES });
    worker = spawnWorker(tracker, ['--redis', redisUrl, '--prefix', study.prefix, '--concurrency', '4']);
    await worker.waitForLog(/worker started/);
  });

  const validJob = (index: number): StepJobInput & Record<string, unknown> => ({
    protocol: PROTOCOL_VERSION,
    prefix: study.prefix,
    studyId: study.studyId,
    index,
    attempt: 1,
    name: `step_${index}`,
    workspace: path.join(study.root, `step_${index}`),
    fileName: `step_${index}`,
    kind: 'cmd',
    script: `#!/bin/bash\ntouch ran\n`,
    interpreter: ['/bin/bash'],
  });

  it('rejects every one, reports the ones it can name, and keeps running', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 6 }), async (batch) => {
        const expected: { jobId: string; ref?: { index: number; attempt: number } }[] = [];
        for (const h of batch) {
          let data: unknown;
          let jobId: string;
          if (h.kind === 'json') {
            data = h.value;
            jobId = `foreign-${nextForeign++}`;
          } else {
            const index = nextIndex++;
            const job: Record<string, unknown> = validJob(index);
            for (const m of h.mutations) {
              if ('remove' in m) delete job[m.field];
              else job[m.field] = materialize(m.value);
            }
            data = job;
            jobId = stepJobId(study.studyId, index, 1);
          }
          // The worker names the run from the payload, else from the job id (JobRunner, job-runner.ts).
          const idRef = /^(.+)\.(\d+)\.(\d+)$/.exec(jobId);
          const ref =
            readableRef(data) ??
            (idRef
              ? readableRef({ studyId: idRef[1], index: Number(idRef[2]), attempt: Number(idRef[3]) })
              : undefined);
          let reported: { index: number; attempt: number } | undefined;
          if (ref && ref.studyId === study.studyId) {
            const held = fence.get(ref.index);
            if (held === undefined || ref.attempt > held) {
              fence.set(ref.index, ref.attempt);
              reported = { index: ref.index, attempt: ref.attempt };
            }
          }
          await study.queue.add('step', data, { jobId });
          expected.push({ jobId, ref: reported });
        }

        for (const e of expected) {
          await expect.poll(() => study.queue.getJobState(e.jobId), { timeout: 10_000, interval: 20 }).toBe('failed');
        }
        const results = await study.results();
        for (const e of expected) {
          if (!e.ref) continue;
          const r = results.find((x: StepResult) => x.index === e.ref!.index && x.attempt === e.ref!.attempt);
          expect(r, `rejected result for ${e.jobId}`).toMatchObject({
            outcome: 'rejected',
            pid: 0,
            message: expect.stringMatching(/^not a step job this worker can run \(protocol \d+\): /),
          });
          expect(r!.message!.length).toBeLessThan(2_000);
        }
        expect(worker.child.exitCode).toBeNull();
      }),
      // A failure is reported at once with its batch: shrinking would wait out many polls.
      { numRuns: 40, endOnFailure: true },
    );

    // Nothing was created for any of them: no workspace, no script, nothing ran.
    expect(readdirSync(study.root)).toEqual([]);
    expect(worker.stderr()).not.toMatch(/"msg":"(worker crashed|step job failed in the worker)"/);

    // ...and it still runs a good step.
    const good = nextIndex++;
    await study.add({ index: good, script: '#!/bin/bash\necho fine > ok.txt\n' });
    expect(await study.waitForResult((r) => r.index === good)).toMatchObject({ outcome: 'succeeded' });
    expect(existsSync(path.join(study.root, `step_${good}`, 'ok.txt'))).toBe(true);
    expect(worker.child.exitCode).toBeNull();
  });

  it('refuses a workspace or file name that would leave its folder, even in an otherwise good job', async () => {
    const outside = tempDir();
    const before = readdirSync(study.root);
    const cases: Record<string, unknown>[] = [
      { workspace: `${study.root}/../${path.basename(outside)}/escaped` },
      { workspace: `relative-${randomUUID()}` },
      { workspace: `${study.root}/a\0b` },
      { fileName: '../escaped' },
      { fileName: '..' },
      { fileName: 'x\0y' },
    ];
    for (const patch of cases) {
      const index = nextIndex++;
      const id = stepJobId(study.studyId, index, 1);
      await study.queue.add('step', { ...validJob(index), ...patch }, { jobId: id });
      const r = await study.waitForResult((x) => x.index === index);
      expect(r, JSON.stringify(patch)).toMatchObject({ outcome: 'rejected' });
      expect(r.message).toMatch(Object.keys(patch)[0]!);
      // The result is sent before BullMQ moves the job: on a loaded machine the move comes later.
      await expect.poll(() => study.queue.getJobState(id), { timeout: 10_000, interval: 20 }).toBe('failed');
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(study.root)).toEqual(before);
    expect(worker.child.exitCode).toBeNull();
  });
});
