/**
 * Cross-site request forgery against a dashboard with `--allow-actions` (issue #26): bull-board's
 * POST that adds a job, sent the way another site's page could send it, is refused; the same
 * request from the dashboard's own page, with its token, is accepted. Requests go out through
 * node:http so that Origin and Referer are exactly what the test says.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { resolveDashboardSettings } from '../src/dashboard/settings.js';

const redisUrl = inject('redisUrl');
const prefix = `g${randomUUID().slice(0, 8)}`;
const closers: (() => Promise<unknown> | unknown)[] = [];
let dashboard: Dashboard;
let queue: Queue;
let origin: string;

beforeAll(async () => {
  dashboard = await startDashboard({
    settings: resolveDashboardSettings({ port: 0, prefix, allowActions: true }),
    redis: { url: redisUrl },
    log: pino({ level: 'silent' }),
  });
  closers.push(() => dashboard.close());
  origin = new URL(dashboard.url).origin;
  queue = new Queue('steps', { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix });
  closers.push(() => queue.close());
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(method: string, p: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(p, dashboard.url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The token the dashboard's pages get, from the cookie it sets on a page load. */
async function pageToken(): Promise<string> {
  const page = await send('GET', '/', {});
  const cookie = ([] as string[]).concat(page.headers['set-cookie'] ?? []).find((c) => c.startsWith('XSRF-TOKEN='));
  expect(cookie).toMatch(/^XSRF-TOKEN=[0-9a-f]{64}; Path=\/; SameSite=Strict$/);
  return cookie!.slice('XSRF-TOKEN='.length).split(';')[0]!;
}

const waiting = async (): Promise<number> => (await queue.getJobCounts('waiting')).waiting ?? 0;
const ADD = '/queues/api/queues/steps/add';
// What a <form enctype="text/plain"> on another site posts: no header it could choose.
const FORM_BODY = '{"name":"injected","data":{},"x":"="}';

describe('state-changing dashboard requests', () => {
  it("refuse another site's form, with or without the user's cookie and a matching Referer", async () => {
    const token = await pageToken();
    const attempts: Record<string, string>[] = [
      { Origin: 'http://evil.example' },
      { Origin: 'http://evil.example', 'X-XSRF-TOKEN': token }, // even were the token guessed
      { Origin: 'null' }, // a sandboxed frame or a data: page
      { Referer: 'http://evil.example/attack.html' },
      {}, // neither header: nothing says where it came from
      { Origin: `http://127.0.0.1:1`, 'X-XSRF-TOKEN': token }, // another port of this host: same site, not same origin
      { Origin: 'http://evil.example', Referer: `${origin}/queues` }, // Origin decides when there is one
    ];
    for (const headers of attempts) {
      const res = await send('POST', ADD, { 'Content-Type': 'text/plain', ...headers }, FORM_BODY);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.body).toMatch(/must come from a page of this dashboard/);
    }
    expect(await waiting()).toBe(0);
  });

  it('refuse a same-origin request without the token, or with a wrong one', async () => {
    for (const extra of [{}, { 'X-XSRF-TOKEN': 'f'.repeat(64) }] as Record<string, string>[]) {
      const res = await send('POST', ADD, { 'Content-Type': 'text/plain', Origin: origin, ...extra }, FORM_BODY);
      expect(res.status).toBe(403);
      expect(res.body).toMatch(/no valid x-xsrf-token token/);
    }
    expect(await waiting()).toBe(0);
  });

  it("accept the dashboard's own page: same origin (or same-origin Referer) and its token", async () => {
    const token = await pageToken();
    const json = { 'Content-Type': 'application/json', 'X-XSRF-TOKEN': token };
    const body = JSON.stringify({ name: 'added', data: { from: 'test' } });
    expect((await send('POST', ADD, { ...json, Origin: origin }, body)).status).toBe(200);
    expect((await send('POST', ADD, { ...json, Referer: `${origin}/queues/queue/steps` }, body)).status).toBe(200);
    expect(await waiting()).toBe(2);
    // GETs need neither: links and reloads work as before.
    expect((await send('GET', '/queues/api/queues', { Origin: 'http://evil.example' })).status).toBe(200);
  });
});
