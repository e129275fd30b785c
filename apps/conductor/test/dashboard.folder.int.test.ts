/**
 * A study the dashboard shows from its folder when Redis is gone (issue #19): no Redis at the
 * start, a Redis that does not hold the study, one that stops while the page looks, and the run's
 * dashboard that lets go of its Redis when the study ends. The study's own records in Redis and
 * its status files say the same things, so the view is the same from either.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  formatStatusRow,
  STATE_RECORD_BYTES,
  stateKey,
  STATUS_CSV_HEADER,
  StepState,
  studiesKey,
  studyKey,
  writeStateRecord,
} from '@maestro/protocol';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { resolveDashboardSettings } from '../src/dashboard/settings.js';
import type { StudyMeta } from '../src/study/meta.js';
import { loadStudy } from '../src/study/load.js';
import { writeStudySkeleton } from '../src/study/write.js';
import { startRedisServer } from '../../../test/helpers/redis-server.js';

const redisUrl = inject('redisUrl');
// The API's JSON, read loosely: the assertions below say what it must hold.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const closers: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const silent = pino({ level: 'silent' });

/**
 * A finished study of four instances (three `sim`, one `post` after all of them) whose `sim_N.2`
 * failed with exit code 3 and some error output: its folder as the conductor leaves it.
 */
async function finishedStudy(prefix: string): Promise<StudyMeta> {
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-dash-folder-'));
  const root = path.join(dir, 'study');
  const spec = path.join(dir, 'folder.yaml');
  writeFileSync(
    spec,
    `description: {name: folder, description: shown without Redis}
study:
  - {name: sim, description: many, run: {cmd: "echo $(N)"}}
  - {name: post, description: after all, run: {cmd: "echo done", depends: [sim_*]}}
global.parameters:
  N: {values: [1, 2, 3], label: N.%%}
`,
  );
  const now = new Date(T0);
  const loaded = await loadStudy({ specPath: spec, out: root, cwd: dir, now });
  const meta = await writeStudySkeleton({ loaded, root, dryRun: false, pargs: [], now, cwd: dir, prefix });
  const rows = loaded.expanded.steps.flatMap((s) =>
    Array.from({ length: s.instanceCount }, (_, k) => loaded.expanded.describe(s.firstInstance + k)),
  );
  const failed = 'sim_N.2';
  writeFileSync(
    path.join(root, 'status.csv'),
    [
      STATUS_CSV_HEADER,
      ...rows.map((inst, k) =>
        formatStatusRow({
          name: inst.name,
          jobId: String(1000 + k),
          workspace: inst.workspace,
          state: inst.name === failed ? 'FAILED' : 'FINISHED',
          submitMs: T0,
          startMs: T0 + 1000,
          endMs: T0 + 2000,
          restarts: 0,
          params: inst.params,
        }),
      ),
      '',
    ].join('\n'),
  );
  const bad = rows.find((r) => r.name === failed)!;
  writeFileSync(
    path.join(root, 'meta', 'status.json'),
    JSON.stringify({
      id: meta.id,
      name: 'folder',
      root,
      state: 'FAILURE',
      total: 4,
      counts: { FINISHED: 3, FAILED: 1 },
      running: 0,
      queued: 0,
      ratePerSec: 1,
      etaMs: 0,
      startedAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0 + 5000).toISOString(),
      steps: [],
      failures: [
        {
          name: failed,
          state: 'FAILED',
          exitCode: 3,
          attempt: 1,
          err: path.join(bad.workspace, `${bad.fileName}.err`),
        },
      ],
      failedTotal: 1,
    }),
  );
  mkdirSync(path.join(root, bad.workspace), { recursive: true });
  writeFileSync(path.join(root, bad.workspace, `${bad.fileName}.err`), 'reading input\nError: no convergence\n');
  return meta;
}

/** The same study as the conductor records it in Redis, still RUNNING there (so the two differ). */
async function putInRedis(redis: Redis, prefix: string, meta: StudyMeta): Promise<void> {
  const bytes = new Uint8Array(4 * STATE_RECORD_BYTES);
  for (let i = 0; i < 4; i++) {
    writeStateRecord(bytes, i, {
      state: i === 3 ? StepState.INITIALIZED : StepState.RUNNING,
      restarts: 0,
      tries: 0,
      flags: 0,
      attempt: i === 3 ? 0 : 1,
      submitMs: T0,
      startMs: i === 3 ? 0 : T0 + 1000,
      endMs: 0,
      pid: 0,
      exitCode: -1,
      worker: 0,
      bundle: i,
    });
  }
  await redis
    .multi()
    .hset(studyKey(prefix, meta.id), {
      meta: JSON.stringify({ id: meta.id, name: 'folder', root: meta.root, instanceCount: 4, steps: meta.steps }),
      state: 'RUNNING',
      counts: JSON.stringify({ RUNNING: 3, INITIALIZED: 1 }),
      startedAt: String(T0),
      cursor: '1-0',
    })
    .set(stateKey(prefix, meta.id), Buffer.from(bytes))
    .zadd(studiesKey(prefix), T0, meta.id)
    .exec();
}

async function start(o: {
  prefix: string;
  redis?: string;
  study?: StudyMeta;
  folderNote?: string;
}): Promise<Dashboard> {
  const d = await startDashboard({
    settings: resolveDashboardSettings({ port: 0, prefix: o.prefix }),
    redis: o.redis === undefined ? undefined : { url: o.redis },
    study: o.study,
    folderNote: o.folderNote,
    log: silent,
  });
  closers.push(() => d.close());
  return d;
}

async function get(d: Dashboard, p: string): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(new URL(p, d.url));
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

const newPrefix = (): string => `f${randomUUID().slice(0, 8)}`;

describe('a study shown from its folder', () => {
  it('without any Redis: the list, counts, failures with their error output, and no workers', async () => {
    const prefix = newPrefix();
    const meta = await finishedStudy(prefix);
    const d = await start({ prefix, study: meta });

    const info = await get(d, '/api/info');
    expect(info.body).toMatchObject({
      redis: null,
      study: meta.id,
      folderNote: 'from the study folder; Redis is not running',
    });
    const list = await get(d, '/api/studies');
    expect(list.body.total).toBe(1);
    expect(list.body.items[0]).toMatchObject({
      id: meta.id,
      name: 'folder',
      state: 'FAILURE',
      total: 4,
      final: 4,
      counts: { FINISHED: 3, FAILED: 1 },
      startedAt: T0,
      endedAt: T0 + 5000,
      etaMs: 0,
    });

    const detail = await get(d, `/api/studies/${meta.id}`);
    expect(detail.body).toMatchObject({
      state: 'FAILURE',
      counts: { FINISHED: 3, FAILED: 1 },
      failedTotal: 1,
      folder: { readable: true, problem: null },
      source: { kind: 'folder', note: 'from the study folder; Redis is not running' },
    });
    expect(detail.body.steps.map((s: Json) => [s.name, s.counts])).toEqual([
      ['sim', { FINISHED: 2, FAILED: 1 }],
      ['post', { FINISHED: 1 }],
    ]);
    expect(detail.body.steps[1].funnelParents).toEqual(['sim']);

    const failures = await get(d, `/api/studies/${meta.id}/failures`);
    expect(failures.body.items).toEqual([
      expect.objectContaining({
        name: 'sim_N.2',
        exitCode: 3,
        upstream: false,
        startedAt: T0 + 1000,
        workspace: 'sim/N.2',
        params: { N: '2' },
        err: expect.objectContaining({ lines: ['reading input', 'Error: no convergence'] }),
      }),
    ]);
    const finished = await get(d, `/api/studies/${meta.id}/instances?state=FINISHED&step=sim`);
    expect(finished.body.items.map((i: Json) => [i.name, i.exitCode, i.pid])).toEqual([
      ['sim_N.1', 0, 1000],
      ['sim_N.3', 0, 1002],
    ]);
    expect((await get(d, `/api/studies/${meta.id}/graph`)).body.nodes).toHaveLength(2);
    expect((await get(d, `/api/studies/${meta.id}/workers`)).body).toMatchObject({ workers: [], allocations: [] });
    expect((await get(d, '/api/studies/another.123')).status).toBe(404);
    const board = await get(d, '/queues');
    expect(board.status).toBe(503);
    expect(board.text).toContain('Redis is not running');
  });

  it("with a Redis that does not hold the study: the list is Redis's, the study comes from its folder", async () => {
    const prefix = newPrefix();
    const meta = await finishedStudy(prefix);
    const d = await start({ prefix, redis: redisUrl, study: meta });
    expect((await get(d, '/api/studies')).body.total).toBe(0);
    const detail = await get(d, `/api/studies/${meta.id}`);
    expect(detail.body).toMatchObject({
      state: 'FAILURE',
      source: { kind: 'folder', note: 'from the study folder; its Redis no longer holds it' },
    });
    expect((await get(d, '/queues')).status).toBe(200); // the Redis is there: bull-board shows it
  });

  it('with a Redis that cannot be reached at the start: the folder alone (and an error without one)', async () => {
    const prefix = newPrefix();
    const meta = await finishedStudy(prefix);
    const gone = await startRedisServer();
    await gone.stop();
    const d = await start({ prefix, redis: gone.url, study: meta });
    expect((await get(d, `/api/studies/${meta.id}`)).body.source.kind).toBe('folder');
    expect((await get(d, '/api/info')).body.redis).toBeNull();
    await expect(start({ prefix, redis: gone.url })).rejects.toThrow(/cannot reach Redis/);
  });

  it('follows the study in Redis, and shows it from its folder once that Redis stops', async () => {
    const server = await startRedisServer();
    closers.push(() => server.stop());
    const prefix = newPrefix();
    const meta = await finishedStudy(prefix);
    const redis = new Redis(server.url);
    await putInRedis(redis, prefix, meta);
    redis.disconnect();
    const d = await start({ prefix, redis: server.url, study: meta });
    const live = await get(d, `/api/studies/${meta.id}`);
    expect(live.body).toMatchObject({ state: 'RUNNING', counts: { RUNNING: 3 }, source: { kind: 'redis' } });

    await server.stop(); // the study ended, and its embedded Redis with it
    let after: Json;
    await expect
      .poll(
        async () => {
          after = await get(d, `/api/studies/${meta.id}`);
          return after.body?.source?.kind;
        },
        { timeout: 20_000 },
      )
      .toBe('folder');
    expect(after.body).toMatchObject({
      state: 'FAILURE',
      counts: { FINISHED: 3, FAILED: 1 },
      source: { note: 'from the study folder; Redis is not running' },
    });
    expect((await get(d, '/api/studies')).body.items.map((s: Json) => s.id)).toEqual([meta.id]);
  });

  it("when the run ends, the run's dashboard lets go of Redis and serves the final state from the folder", async () => {
    // A Redis of its own: the test counts the dashboard's connections to it.
    const server = await startRedisServer();
    closers.push(() => server.stop());
    const prefix = newPrefix();
    const meta = await finishedStudy(prefix);
    const redis = new Redis(server.url);
    closers.push(() => redis.disconnect());
    await putInRedis(redis, prefix, meta);
    const d = await start({ prefix, redis: server.url, study: meta });
    expect((await get(d, `/api/studies/${meta.id}`)).body.source.kind).toBe('redis');
    const viewers = async (): Promise<number> =>
      ((await redis.client('LIST')) as string).split('\n').filter((l) => l.includes('name=maestro-dashboard')).length;
    expect(await viewers()).toBe(2);

    await d.studyEnded();
    const detail = await get(d, `/api/studies/${meta.id}`);
    expect(detail.body).toMatchObject({
      state: 'FAILURE',
      final: 4,
      source: { kind: 'folder', note: 'from the study folder: the study ended, and the run let go of its Redis' },
    });
    expect((await get(d, '/api/info')).body).toMatchObject({ redis: null, study: meta.id });
    const board = await get(d, '/queues/api/queues');
    expect(board.status).toBe(503);
    expect(board.text).toContain('let go of its Redis');
    await expect.poll(viewers, { timeout: 20_000 }).toBe(0);
  });
});
