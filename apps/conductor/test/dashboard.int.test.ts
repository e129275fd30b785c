/**
 * The dashboard's JSON API against a real Redis and BullMQ, with a study of 100,001 instances
 * whose records are written the way the conductor writes them: aggregates, pages, failures with
 * their error output, job links, live updates through the event stream, and the request guards.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  STATE_RECORD_BYTES,
  stateKey,
  StepState,
  stepJobId,
  StudyRecordField,
  studiesKey,
  studyKey,
  studyWorkersKey,
  workerKey,
  workersKey,
  writeStateRecord,
  type StateRecord,
} from '@maestro/protocol';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { resolveDashboardSettings } from '../src/dashboard/settings.js';
import { loadStudy } from '../src/study/load.js';
import { writeStudySkeleton } from '../src/study/write.js';

const redisUrl = inject('redisUrl');
// The API's JSON, read loosely: the assertions below say what it must hold.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const N = 100_000;
const prefix = `d${randomUUID().slice(0, 8)}`;
const closers: (() => Promise<unknown> | unknown)[] = [];
let redis: Redis;
let dashboard: Dashboard;
let studyId: string;
let root: string;

const blank: StateRecord = {
  state: 0,
  restarts: 0,
  tries: 0,
  flags: 0,
  attempt: 0,
  submitMs: 0,
  startMs: 0,
  endMs: 0,
  pid: 0,
  exitCode: -1,
  worker: 0,
  bundle: 0,
};

// Instance layout: 0 = prep, 1..N = sim_N.<k-1>, N+1 = post.
const FINISHED_UNTIL = 60_000; // sim instances 1..60000 finished
const FAILED_FROM = 60_001; // 60001..60100 failed with exit code 2
const RUNNING_FROM = 60_101; // 60101..61100 running on worker-a
const RUNNING_UNTIL = 61_100;

function recordOf(i: number): StateRecord {
  const t = 1_700_000_000_000;
  if (i === 0 || (i >= 1 && i <= FINISHED_UNTIL))
    return {
      ...blank,
      state: StepState.FINISHED,
      attempt: 1,
      submitMs: t,
      startMs: t + 1,
      endMs: t + 2,
      exitCode: 0,
      worker: 1,
      bundle: i, // sent alone: its own bundle
    };
  if (i >= FAILED_FROM && i < RUNNING_FROM)
    return {
      ...blank,
      state: StepState.FAILED,
      attempt: 1,
      tries: 1,
      submitMs: t,
      startMs: t + 1,
      endMs: t + 5,
      exitCode: 2,
      worker: 1,
      bundle: i, // sent alone: its own bundle
    };
  if (i >= RUNNING_FROM && i <= RUNNING_UNTIL)
    // The third runs in the bundle that the first leads: its job is the first's.
    return {
      ...blank,
      state: StepState.RUNNING,
      attempt: 1,
      submitMs: t,
      startMs: t + 1,
      worker: 1,
      bundle: i === RUNNING_FROM + 2 ? RUNNING_FROM : i,
    };
  return blank;
}

async function getJson(p: string): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(new URL(p, dashboard.url));
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

beforeAll(async () => {
  redis = new Redis(redisUrl);
  closers.push(() => redis.disconnect());
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-dash-int-'));
  root = path.join(dir, 'big');
  const spec = path.join(dir, 'big.yaml');
  writeFileSync(
    spec,
    `description: {name: big, description: a hundred thousand instances}
study:
  - {name: prep, description: once, run: {cmd: "echo prep"}}
  - {name: sim, description: many, run: {cmd: "echo $(N)", depends: [prep]}}
  - {name: post, description: after all, run: {cmd: "echo done", depends: [sim_*]}}
global.parameters:
  N: {values: [${Array.from({ length: N }, (_, k) => k).join(',')}], label: N.%%}
`,
  );
  const now = new Date();
  const loaded = await loadStudy({ specPath: spec, out: root, cwd: dir, now });
  expect(loaded.expanded.instanceCount).toBe(N + 2);
  const meta = await writeStudySkeleton({ loaded, root, dryRun: false, pargs: [], now, cwd: dir, prefix });
  studyId = meta.id;

  // The study as a conductor leaves it mid-run (keys.ts, state-record.ts).
  const bytes = new Uint8Array((N + 2) * STATE_RECORD_BYTES);
  for (let i = 0; i < N + 2; i++) writeStateRecord(bytes, i, recordOf(i));
  await redis
    .multi()
    .hset(studyKey(prefix, studyId), {
      meta: JSON.stringify({
        id: studyId,
        name: 'big',
        description: 'a hundred thousand instances',
        root,
        createdAt: now.toISOString(),
        instanceCount: N + 2,
        steps: meta.steps,
        queues: ['steps'],
        host: 'testhost',
      }),
      state: 'RUNNING',
      counts: JSON.stringify({
        FINISHED: FINISHED_UNTIL + 1,
        FAILED: 100,
        RUNNING: 1000,
        INITIALIZED: N + 2 - FINISHED_UNTIL - 1101,
      }),
      startedAt: String(Date.now() - 60_000),
      cursor: '1-0',
      workerNames: JSON.stringify(['', 'worker-a']),
    })
    .set(stateKey(prefix, studyId), Buffer.from(bytes))
    .zadd(studiesKey(prefix), now.getTime(), studyId)
    .hset(studyWorkersKey(prefix, studyId), 'worker-a', JSON.stringify({ host: 'node7', allocationId: '4242' }))
    .hset(workerKey(prefix, 'worker-a'), {
      name: 'worker-a',
      host: 'node7',
      pid: '99',
      queues: 'steps',
      slots: '1000',
      running: '1000',
      done: '60101',
      startedAt: String(Date.now() - 120_000),
      lastSeen: String(Date.now()),
      allocationId: '4242',
      scheduler: 'slurm',
      allocationEndsAt: String(Date.now() + 3_600_000),
      state: 'running',
    })
    .zadd(workersKey(prefix), Date.now(), 'worker-a')
    .exec();

  // What the failed steps wrote (only the first two have output files).
  for (const k of [0, 1]) {
    const name = `sim_N.${FAILED_FROM - 1 + k}`;
    const ws = path.join(root, 'sim', `N.${FAILED_FROM - 1 + k}`);
    mkdirSync(ws, { recursive: true });
    writeFileSync(
      path.join(ws, `${name}.err`),
      `${Array.from({ length: 50 }, (_, n) => `line ${n}`).join('\n')}\nError: solver diverged (${k})\n`,
    );
  }

  // One running instance still has its BullMQ job (active jobs do): the link must find it.
  const q = new Queue('steps', { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix });
  closers.push(() => q.close());
  await q.add('step', { index: RUNNING_FROM }, { jobId: stepJobId(studyId, RUNNING_FROM, 1) });

  dashboard = await startDashboard({
    settings: resolveDashboardSettings({ port: 0, prefix }),
    redis: { url: redisUrl },
    log: pino({ level: 'silent' }),
  });
  closers.push(() => dashboard.close());
}, 120_000);

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('the dashboard API over a study of 100,001 instances', () => {
  it('lists the study with its counts, elapsed time and an ETA', async () => {
    const { status, body } = await getJson('/api/studies');
    expect(status).toBe(200);
    expect(body.total).toBe(1);
    const s = body.items[0];
    expect(s).toMatchObject({ id: studyId, name: 'big', root, host: 'testhost', state: 'RUNNING', total: N + 2 });
    expect(s.final).toBe(FINISHED_UNTIL + 1 + 100);
    expect(s.elapsedMs).toBeGreaterThanOrEqual(60_000);
    expect(s.etaMs).toBeGreaterThan(0);
  });

  it('counts per spec step and names their dependencies', async () => {
    const { body } = await getJson(`/api/studies/${studyId}`);
    expect(body.steps).toEqual([
      { index: 0, name: 'prep', total: 1, counts: { FINISHED: 1 }, parents: [], funnelParents: [] },
      {
        index: 1,
        name: 'sim',
        total: N,
        counts: { FINISHED: FINISHED_UNTIL, FAILED: 100, RUNNING: 1000, INITIALIZED: N - FINISHED_UNTIL - 1100 },
        parents: ['prep'],
        funnelParents: [],
      },
      { index: 2, name: 'post', total: 1, counts: { INITIALIZED: 1 }, parents: [], funnelParents: ['sim'] },
    ]);
    expect(body.failedTotal).toBe(100);
    expect(body.folder).toEqual({ readable: true, problem: null });
  });

  it('lays out the step DAG, not the instance graph', async () => {
    const { body } = await getJson(`/api/studies/${studyId}/graph`);
    expect(body.nodes.map((n: { name: string }) => n.name)).toEqual(['prep', 'sim', 'post']);
    expect(body.edges.map((e: { from: number; to: number; funnel: boolean }) => [e.from, e.to, e.funnel])).toEqual([
      [0, 1, false],
      [1, 2, true],
    ]);
  });

  it('pages instances by state and step, with names, exit codes and bounded responses', async () => {
    const failed = await getJson(`/api/studies/${studyId}/instances?state=FAILED&limit=10&offset=5`);
    expect(failed.body.total).toBe(100);
    expect(failed.body.items).toHaveLength(10);
    expect(failed.body.items[0]).toMatchObject({
      index: FAILED_FROM + 5,
      name: `sim_N.${FAILED_FROM - 1 + 5}`,
      step: 'sim',
      state: 'FAILED',
      exitCode: 2,
      worker: 'worker-a',
      workspace: `sim/N.${FAILED_FROM - 1 + 5}`,
      params: { N: String(FAILED_FROM - 1 + 5) },
    });
    const all = await getJson(`/api/studies/${studyId}/instances?limit=1000`);
    expect(all.body.total).toBe(N + 2);
    expect(all.body.items).toHaveLength(1000);
    expect(all.text.length).toBeLessThan(1_000_000); // a page, never the study
    const tooMany = await getJson(`/api/studies/${studyId}/instances?limit=100000`);
    expect(tooMany.status).toBe(400);
    expect((await getJson(`/api/studies/${studyId}/instances?step=nope`)).status).toBe(404);
    expect((await getJson(`/api/studies/${studyId}/instances?state=BOGUS`)).status).toBe(400);
  });

  it('links an instance to its job in bull-board while BullMQ has it, and says when it does not', async () => {
    const { body } = await getJson(`/api/studies/${studyId}/instances?step=sim&state=RUNNING&limit=3`);
    const [withJob, without, member] = body.items;
    expect(member.job).toEqual(withJob.job); // a bundle member's job is its bundle's
    expect(withJob.job).toEqual({
      queue: 'steps',
      id: stepJobId(studyId, RUNNING_FROM, 1),
      state: 'waiting',
      url: `/queues/queue/steps/${encodeURIComponent(stepJobId(studyId, RUNNING_FROM, 1))}`,
    });
    expect(without.job).toMatchObject({ state: 'missing', url: null });
    const page = await fetch(new URL(withJob.job.url, dashboard.url));
    expect(page.status).toBe(200); // bull-board's page for it
    const api = await getJson(`/queues/api/queues/steps/${encodeURIComponent(withJob.job.id)}`);
    expect(api.status).toBe(200);
    expect(api.body.job.id).toBe(withJob.job.id);
  });

  it('shows failed instances with the tail of their .err, and says when there is none', async () => {
    const { body } = await getJson(`/api/studies/${studyId}/failures?limit=3&tail=3`);
    expect(body.total).toBe(100);
    const [a, b, c] = body.items;
    expect(a).toMatchObject({ name: `sim_N.${FAILED_FROM - 1}`, exitCode: 2, upstream: false });
    expect(a.err.lines).toEqual(['line 48', 'line 49', 'Error: solver diverged (0)']);
    expect(a.err.truncated).toBe(true);
    expect(b.err.lines.at(-1)).toBe('Error: solver diverged (1)');
    expect(c.err).toMatchObject({ lines: [], problem: 'missing' });
  });

  it('shows the workers serving it and the time left in their allocation', async () => {
    const { body } = await getJson(`/api/studies/${studyId}/workers`);
    expect(body.workers).toHaveLength(1);
    expect(body.workers[0]).toMatchObject({
      name: 'worker-a',
      host: 'node7',
      allocationId: '4242',
      scheduler: 'slurm',
      state: 'running',
      runningHere: 1000,
    });
    expect(body.workers[0].timeLeftMs).toBeGreaterThan(3_000_000);
    expect(body.allocations).toEqual([
      expect.objectContaining({ id: '4242', scheduler: 'slurm', hosts: ['node7'], workers: 1, running: 1000 }),
    ]);
  });

  it('marks the workers of a quarantined host and shows the evidence', async () => {
    const evidence = {
      host: 'node7',
      failures: 6,
      failuresOnStepsOkElsewhere: 5,
      runs: 6,
      failuresElsewhere: 1,
      runsElsewhere: 40,
      sinceMs: Date.now() - 5_000,
    };
    const key = studyKey(prefix, studyId);
    // Written with a commit, which moves the cursor: what tells the dashboard to read again.
    const cursor = (await redis.hget(key, 'cursor')) ?? '';
    await redis.hset(key, StudyRecordField.quarantine, JSON.stringify([evidence]), 'cursor', `${cursor}.q`);
    try {
      const { body } = await getJson(`/api/studies/${studyId}/workers`);
      expect(body.quarantined).toEqual([evidence]);
      expect(body.workers[0]).toMatchObject({ name: 'worker-a', host: 'node7', quarantined: true });
    } finally {
      await redis.multi().hdel(key, StudyRecordField.quarantine).hset(key, 'cursor', cursor).exec();
    }
    const { body } = await getJson(`/api/studies/${studyId}/workers`);
    expect(body.quarantined).toEqual([]);
    expect(body.workers[0].quarantined).toBe(false);
  });

  it('streams a new summary when the conductor commits a change', async () => {
    const controller = new AbortController();
    const res = await fetch(new URL(`/api/studies/${studyId}/stream`, dashboard.url), { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let buffer = '';
    const nextSummary = async (): Promise<Json> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: summary$/m.test(block) && data) return JSON.parse(data);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += new TextDecoder().decode(value);
      }
    };
    try {
      const first = await nextSummary();
      expect(first.counts.RUNNING).toBe(1000);
      // The conductor finishes one running instance: one SETRANGE and the hash, as COMMIT_LUA does.
      const rec = { ...recordOf(RUNNING_FROM), state: StepState.FINISHED, endMs: 1_700_000_000_009, exitCode: 0 };
      const one = new Uint8Array(STATE_RECORD_BYTES);
      writeStateRecord(one, 0, rec);
      await redis
        .multi()
        .setrange(stateKey(prefix, studyId), RUNNING_FROM * STATE_RECORD_BYTES, Buffer.from(one))
        .hset(studyKey(prefix, studyId), {
          cursor: '2-0',
          counts: JSON.stringify({
            FINISHED: FINISHED_UNTIL + 2,
            FAILED: 100,
            RUNNING: 999,
            INITIALIZED: N + 2 - FINISHED_UNTIL - 1101,
          }),
        })
        .exec();
      let next = await nextSummary();
      while (next.counts.RUNNING === 1000) next = await nextSummary();
      expect(next.counts.RUNNING).toBe(999);
      expect(next.steps[1].counts.FINISHED).toBe(FINISHED_UNTIL + 1);
    } finally {
      controller.abort();
    }
  });

  it('answers 404 for a study Redis does not have', async () => {
    const { status, body } = await getJson('/api/studies/nope.123');
    expect(status).toBe(404);
    expect(body.error).toMatch(/no study/);
  });

  it('refuses queue-changing bull-board requests unless actions are allowed', async () => {
    const res = await fetch(new URL('/queues/api/queues/steps/pause', dashboard.url), { method: 'PUT' });
    expect(res.status).toBe(403);
    expect(await redis.hget(`${prefix}:steps:meta`, 'paused')).toBeNull();
  });

  it('without credentials, answers only requests addressed to localhost (DNS rebinding)', async () => {
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL('/api/studies', dashboard.url);
        const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await status(`localhost:${new URL(dashboard.url).port}`)).toBe(200);
    expect(await status('attacker.example:80')).toBe(403);
  });
});
