/**
 * The dashboard as a person uses it: `maestro dashboard` serving a study while it runs, looked at
 * through a real headless Chromium (the study view, its live counts, a failure's error output,
 * bull-board's queue and job pages), plus its safety: no unauthenticated non-loopback bind, 401
 * without credentials, no Redis password in anything it serves, and `maestro run --dashboard`.
 * Screenshots land in test/artifacts/ (MAESTRO_UPDATE_DOCS_IMAGES=1 also refreshes the README's).
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, waitForOutput } from '../helpers/processes.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await killAll();
});

const newPrefix = (): string => `e${randomUUID().slice(0, 8)}`;

/** Steps the test releases one by one (a file per gate), one that fails at once, and a funnel. */
function gatedSpec(gates: string): string {
  return `study:
  - name: setup
    description: quick
    run:
      cmd: echo setup
  - name: work
    description: waits until the test opens its gate
    run:
      cmd: |
        echo waiting for gate $(N)
        while [ ! -e ${gates}/go-$(N) ]; do sleep 0.05; done
        echo released $(N)
      depends: [setup]
  - name: broken
    description: fails at once
    run:
      cmd: |
        echo "loading the mesh" >&2
        echo "boom: the solver diverged at step 42" >&2
        exit 3
  - name: report
    description: after every work step
    run:
      cmd: echo all done
      depends: [work_*]
global.parameters:
  N: {values: [1, 2, 3], label: N.%%}
`;
}

async function browser(): Promise<Browser> {
  const b = await launchChromium();
  cleanups.push(() => b.close());
  return b;
}

const statText = (page: Page, state: string): Promise<string | null> =>
  page.locator(`[data-testid="counts"] [data-stat="state-${state}"] .n`).textContent();

describe('maestro dashboard while a study runs', () => {
  it('shows the study live in a browser: counts that change, the failure with its error tail, the DAG, bull-board', async () => {
    const dir = tempDir();
    const gates = path.join(dir, 'gates');
    mkdirSync(gates);
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'dashdemo', gatedSpec(gates));
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 1, extra: ['--worker-concurrency', '5'] });
    const dash = startMaestro(['dashboard', '--redis', redisUrl, '--prefix', prefix, '--port', '0']);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;

    const b = await browser();
    const page = await b.newPage({ viewport: { width: 1360, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // The list of studies shows ours; its link opens the study view. (`#/`: the list itself; `/`
    // alone opens the study when Redis holds only one.)
    await page.goto(`${url}#/`);
    const row = page.locator('[data-testid="study-row"]').filter({ hasText: 'dashdemo' });
    await row.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'study-list.png') });
    await row.locator('a').first().click();
    await page.locator('[data-testid="study-name"]').filter({ hasText: 'dashdemo' }).waitFor();

    // Three work steps hold at their gates; broken has failed with its error output on show.
    await expect.poll(() => statText(page, 'RUNNING'), { timeout: 60_000 }).toBe('3');
    await expect.poll(() => statText(page, 'FAILED'), { timeout: 60_000 }).toBe('1');
    const failure = page.locator('[data-testid="failure"]').filter({ hasText: 'broken' });
    await failure.locator('pre.err-tail').filter({ hasText: 'boom: the solver diverged at step 42' }).waitFor();
    expect(await failure.textContent()).toContain('exit code 3');

    // The step DAG, laid out by dagre: four steps, setup -> work and the funnel work_* -> report.
    // (It is fetched once, after the first summary: wait for it rather than race it.)
    await expect.poll(() => page.locator('svg#dag g.node').count(), { timeout: 30_000 }).toBe(4);
    expect(await page.locator('svg#dag path.edge:not(.funnel)').count()).toBe(1);
    expect(await page.locator('svg#dag path.edge.funnel').count()).toBe(1);

    // Counts change as steps finish, without reloading the page.
    const finishedBefore = Number(await statText(page, 'FINISHED'));
    writeFileSync(path.join(gates, 'go-1'), '');
    await expect
      .poll(async () => Number(await statText(page, 'FINISHED')), { timeout: 60_000 })
      .toBeGreaterThan(finishedBefore);
    await page.locator('[data-testid="step"][data-step="work"]').filter({ hasText: '1 / 3' }).waitFor();
    await page.locator('[data-testid="instance"][data-instance="work_N.1"][data-state="FINISHED"]').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'study-view.png'), fullPage: true });
    if (process.env['MAESTRO_UPDATE_DOCS_IMAGES']) {
      mkdirSync(path.join(REPO_ROOT, 'docs/images'), { recursive: true });
      copyFileSync(path.join(ARTIFACTS, 'study-view.png'), path.join(REPO_ROOT, 'docs/images/study-view.png'));
    }

    // A running instance links to its job in bull-board, which shows it.
    await page.locator('select[aria-label="state"]').selectOption('RUNNING');
    const running = page.locator('[data-testid="instance"][data-state="RUNNING"]');
    await running.first().waitFor();
    const link = running.first().locator('a.job-link');
    const jobUrl = await link.getAttribute('href');
    expect(jobUrl).toMatch(/^\/queues\/queue\/steps\/.+\.\d+\.1$/);
    const jobId = decodeURIComponent(jobUrl!.split('/').pop()!);
    await link.click();
    await page.getByText(jobId).first().waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'bull-board-job.png') });

    // bull-board lists the queue, and the active jobs in it.
    await page.goto(`${url}queues`);
    await page.getByText('steps', { exact: true }).first().waitFor({ timeout: 60_000 });
    await page.goto(`${url}queues/queue/steps?status=active`);
    await page.getByText(jobId).first().waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'bull-board-queue.png') });

    // The rest finishes; the study view ends on FAILURE (broken failed), still live.
    await page.goto(`${url}#/`);
    await row.locator('a').first().click();
    writeFileSync(path.join(gates, 'go-2'), '');
    writeFileSync(path.join(gates, 'go-3'), '');
    await page.locator('[data-testid="study-state"]').filter({ hasText: 'FAILURE' }).waitFor({ timeout: 90_000 });
    expect(await statText(page, 'FINISHED')).toBe('5');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(2);
    expect(pageErrors).toEqual([]);

    dash.kill('SIGTERM');
    expect((await dash).exitCode).toBe(0);
  });
});

describe('dashboard safety', () => {
  it('refuses to listen beyond this machine without credentials', async () => {
    const r = await maestro(['dashboard', '--redis', redisUrl, '--host', '0.0.0.0', '--port', '0']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('refusing to serve the dashboard on 0.0.0.0 without credentials');
    expect(r.stderr).toContain('--auth user:password');
  });

  it('with credentials, answers 401 to a request without them, on any address', async () => {
    // MAESTRO_DASHBOARD_AUTH instead of --auth: the environment, which ps does not show.
    const dash = startMaestro(['dashboard', '--redis', redisUrl, '--host', '0.0.0.0', '--port', '0'], {
      env: { MAESTRO_DASHBOARD_AUTH: 'alice:s3cret:pw' },
    });
    const port = (await waitForOutput(dash, /maestro dashboard: http:\/\/0\.0\.0\.0:(\d+)\//))[1]!;
    const base = `http://127.0.0.1:${port}`;
    const auth = (creds: string): Record<string, string> => ({
      Authorization: `Basic ${Buffer.from(creds).toString('base64')}`,
    });
    for (const p of ['/', '/api/studies', '/queues', '/queues/api/queues']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="maestro dashboard"/);
    }
    expect((await fetch(`${base}/api/studies`, { headers: auth('alice:wrong') })).status).toBe(401);
    expect((await fetch(`${base}/api/studies`, { headers: auth('alice:s3cret:pw') })).status).toBe(200);

    // A browser given the credentials sees the study view.
    const b = await browser();
    const context = await b.newContext({ httpCredentials: { username: 'alice', password: 's3cret:pw' } });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('[data-testid="study-list"]').waitFor();
    await waitFor(async () => (await page.locator('#live').textContent()) === 'live', 30_000, 'the list to load');
  });

  it('never serves the Redis password, and keeps bull-board read-only', async () => {
    const password = `pw-${randomUUID()}`;
    const server: RedisServer = await startRedisServer({ password });
    cleanups.push(() => server.stop());
    const prefix = newPrefix();
    const dir = tempDir();
    const spec = writeSpec(
      dir,
      'secretive',
      `study:
  - {name: ok, description: fine, run: {cmd: echo fine}}
  - {name: bad, description: fails, run: {cmd: "echo nope >&2; exit 4"}}
`,
    );
    const run = await maestro([
      'run',
      '-o',
      path.join(dir, 'study'),
      '--redis',
      server.url,
      '--prefix',
      prefix,
      '--local-workers',
      '1',
      spec,
    ]);
    expect(run.exitCode, run.stderr).toBe(2);
    const dash = startMaestro(['dashboard', '--redis', server.url, '--prefix', prefix, '--port', '0']);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const studies = (await (await fetch(`${url}api/studies`)).json()) as { items: { id: string }[] };
    expect(studies.items).toHaveLength(1);
    const id = studies.items[0]!.id;
    const paths = [
      '',
      'app.js',
      'api/info',
      'api/studies',
      `api/studies/${id}`,
      `api/studies/${id}/graph`,
      `api/studies/${id}/instances`,
      `api/studies/${id}/failures`,
      `api/studies/${id}/workers`,
      'queues',
      'queues/api/queues',
      'queues/api/redis/stats',
    ];
    for (const p of paths) {
      const res = await fetch(`${url}${p}`);
      expect(res.status, p).toBe(200);
      expect(await res.text(), p).not.toContain(password);
    }
    const info = (await (await fetch(`${url}api/info`)).json()) as { redis: string; actions: boolean };
    expect(info.redis).toBe(`redis://127.0.0.1:${server.port}`);
    expect(info.actions).toBe(false);
    for (const [method, p] of [
      ['PUT', 'queues/api/queues/steps/pause'],
      ['PUT', 'queues/api/queues/steps/clean/failed'],
      ['PUT', 'queues/api/queues/steps/retry/failed'],
    ] as const) {
      expect((await fetch(`${url}${p}`, { method })).status, p).toBe(403);
    }
    dash.kill('SIGTERM');
    const done = await dash;
    expect(done.all).not.toContain(password);
  });

  it("with --allow-actions: a page of another origin cannot add jobs, bull-board's own buttons still work", async () => {
    const prefix = newPrefix();
    const dash = startMaestro(['dashboard', '--redis', redisUrl, '--prefix', prefix, '--port', '0', '--allow-actions']);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const target = `${url}queues/api/queues/steps/add`;
    const steps = async (): Promise<{ counts: { waiting: number }; isPaused: boolean }> => {
      const body = (await (await fetch(`${url}queues/api/queues`)).json()) as {
        queues: { name: string; counts: { waiting: number }; isPaused: boolean }[];
      };
      return body.queues.find((q) => q.name === 'steps')!;
    };

    // Another site (here: another port, which is another origin) posts the form that added jobs
    // before: text/plain, so that its body reads as JSON; and a no-cors fetch, for good measure.
    const attacker = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!doctype html><body>
<form method="POST" enctype="text/plain" action="${target}">
<input type="hidden" name='{"name":"injected","data":{},"x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' },
  body: '{"name":"injected-by-fetch","data":{}}' }).finally(() => document.forms[0].submit());
</script></body>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => attacker.close(resolve)));
    const b = await browser();
    const page = await b.newPage();
    await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    await page.waitForURL(target);
    expect(await page.locator('body').textContent()).toContain('must come from a page of this dashboard');
    expect((await steps()).counts.waiting).toBe(0);

    // The dashboard's own page: bull-board's menu pauses the queue (its request carries the token).
    await page.goto(`${url}queues/queue/steps`);
    await page.locator('button[aria-haspopup="menu"]:has(svg.lucide-ellipsis-vertical)').click();
    await page.getByRole('menuitem', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(async () => (await steps()).isPaused, { timeout: 30_000 }).toBe(true);
  });

  it('refuses .err files a failed step replaced with a link or a FIFO, and keeps answering meanwhile', async () => {
    const dir = tempDir();
    const secret = path.join(dir, 'private.txt');
    const secretText = `TOP-SECRET-${randomUUID()}`;
    writeFileSync(secret, `${secretText}\n`);
    chmodSync(secret, 0o600);
    const prefix = newPrefix();
    const root = path.join(dir, 'study');
    // Each step swaps the .err its worker writes to (its own, in its workspace) and fails.
    const spec = writeSpec(
      dir,
      'hostile',
      `study:
  - name: leak
    description: its .err becomes a link to a private file
    run:
      cmd: |
        for f in *.err; do rm -f "$f"; ln -s ${secret} "$f"; done
        exit 1
  - name: block
    description: its .err becomes a FIFO, which would block a plain read forever
    run:
      cmd: |
        for f in *.err; do rm -f "$f"; mkfifo "$f"; done
        exit 1
  - {name: fine, description: ok, run: {cmd: echo fine}}
`,
    );
    const run = await maestro([
      'run',
      '-o',
      root,
      '--redis',
      redisUrl,
      '--prefix',
      prefix,
      '--local-workers',
      '1',
      spec,
    ]);
    expect(run.exitCode, run.stderr).toBe(2);

    // From Redis (--redis), and from the study folder alone (the study's Redis is shared and not given).
    for (const [args, source] of [
      [['--redis', redisUrl], 'redis'],
      [[], 'folder'],
    ] as const) {
      const dash = startMaestro(['dashboard', root, ...args, '--port', '0']);
      const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
      const id = ((await (await fetch(`${url}api/studies`)).json()) as { items: { id: string }[] }).items[0]!.id;
      // Many reads of the FIFO at once, and other requests among them: all answered.
      const replies = await Promise.all([
        ...Array.from({ length: 12 }, () => fetch(`${url}api/studies/${id}/failures?tail=5`)),
        fetch(`${url}api/info`),
        fetch(`${url}api/studies/${id}`),
      ]);
      const texts = await Promise.all(replies.map((r) => r.text()));
      for (const [k, r] of replies.entries()) expect(r.status, texts[k]).toBe(200);
      for (const t of texts) expect(t).not.toContain(secretText);
      const detail = JSON.parse(texts.at(-1)!) as { source: { kind: string }; failedTotal: number };
      expect(detail).toMatchObject({ source: { kind: source }, failedTotal: 2 });
      const failures = JSON.parse(texts[0]!) as {
        items: { name: string; err: { lines: string[]; problem?: string } }[];
      };
      const err = Object.fromEntries(failures.items.map((f) => [f.name, f.err]));
      expect(err['leak']).toMatchObject({ lines: [], problem: 'not read: it is a symbolic link' });
      expect(err['block']).toMatchObject({ lines: [], problem: 'not read: it is not a regular file' });
      dash.kill('SIGTERM');
      expect((await dash).exitCode).toBe(0);
    }
  });
});

describe('maestro run --dashboard', () => {
  it("the README's sample for it is a valid study", async () => {
    const r = await maestro(['validate', path.join(REPO_ROOT, 'samples/dashboard_tour.yaml')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 steps, 26 step instances');
  });

  it('serves the study view while the study runs on its own Redis, and stops with the run', async () => {
    const dir = tempDir();
    const gates = path.join(dir, 'gates');
    mkdirSync(gates);
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'withview',
      `study:
  - name: hold
    description: waits for the test
    run:
      cmd: while [ ! -e ${gates}/go ]; do sleep 0.05; done
`,
    );
    const run = startMaestro(['run', '-o', root, '--local-workers', '1', spec, '--dashboard', '0']);
    const url = (await waitForOutput(run, /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/, 60_000))[1]!;
    const study = await waitFor(
      async () => {
        const body = (await (await fetch(`${url}api/studies`)).json()) as {
          items: { name: string; state: string; counts: Record<string, number> }[];
        };
        const s = body.items.find((x) => x.name === 'withview');
        return s?.counts['RUNNING'] === 1 ? s : undefined;
      },
      60_000,
      'the step to run',
    );
    expect(study.state).toBe('RUNNING');
    writeFileSync(path.join(gates, 'go'), '');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    await expect(fetch(`${url}api/studies`)).rejects.toThrow();
  });

  it('keeps serving the final state until Ctrl-C; then `maestro dashboard STUDY_DIR` shows it without Redis', async () => {
    const dir = tempDir();
    const gates = path.join(dir, 'gates');
    mkdirSync(gates);
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'finale',
      `study:
  - name: hold
    description: waits for the test
    run:
      cmd: while [ ! -e ${gates}/go ]; do sleep 0.05; done
  - name: crash
    description: fails once hold is done
    run:
      cmd: |
        echo "the last words of crash" >&2
        exit 5
      depends: [hold]
`,
    );
    // Not on a terminal here, where the default is to exit with the study: say to stay.
    const run = startMaestro([
      'run',
      '-o',
      root,
      '--local-workers',
      '1',
      spec,
      '--dashboard',
      '0',
      '--no-dashboard-exit',
    ]);
    const url = (await waitForOutput(run, /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/, 60_000))[1]!;

    // `/` opens the study straight away: the run's dashboard is for this one.
    const b = await browser();
    const page = await b.newPage({ viewport: { width: 1360, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    await page.locator('[data-testid="study-name"]').filter({ hasText: 'finale' }).waitFor({ timeout: 60_000 });
    expect(page.url()).toMatch(/#\/study\/study\.\w+$/);
    await expect.poll(() => statText(page, 'RUNNING'), { timeout: 60_000 }).toBe('1');

    const stayed = waitForOutput(run, /study ended; the dashboard stays up at (http:\S+) until Ctrl-C/, 120_000);
    writeFileSync(path.join(gates, 'go'), '');
    const ended = page.locator('[data-testid="study-ended"]');
    await ended.waitFor({ timeout: 90_000 });
    const stays = await stayed;
    expect(stays[1]).toBe(url);
    await page.locator('[data-testid="source-note"]').filter({ hasText: 'from the study folder' }).waitFor();
    expect(await ended.textContent()).toMatch(/^Study finished \(FAILURE\): 2 of 2 instances done/);
    expect(await statText(page, 'FINISHED')).toBe('1');
    expect(await statText(page, 'FAILED')).toBe('1');
    const failure = page.locator('[data-testid="failure"]').filter({ hasText: 'crash' });
    await failure.locator('pre.err-tail').filter({ hasText: 'the last words of crash' }).waitFor();
    expect(await page.locator('.error-box').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'study-finished.png'), fullPage: true });

    // Its embedded Redis is gone; the dashboard answers from the folder, and bull-board says why.
    await waitFor(() => !existsSync(path.join(root, 'meta', 'redis', 'redis.sock')), 30_000, 'Redis to stop');
    expect((await fetch(`${url}api/studies`)).status).toBe(200);
    expect((await fetch(`${url}queues`)).status).toBe(503);

    // Ctrl-C: the run ends with the study's exit code; the page keeps the final state, calmly.
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(2);
    await page.locator('[data-testid="server-gone"]').waitFor({ timeout: 30_000 });
    expect(await statText(page, 'FAILED')).toBe('1');
    expect(await page.locator('.error-box').count()).toBe(0);

    // No Redis runs for it now: `maestro dashboard STUDY_DIR` shows the same study from its files.
    const dash = startMaestro(['dashboard', root, '--port', '0']);
    const folderUrl = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    await waitForOutput(dash, /from the study folder; Redis is not running/);
    await page.goto(folderUrl);
    await page.locator('[data-testid="source-note"]').filter({ hasText: 'Redis is not running' }).waitFor();
    expect(page.url()).toMatch(/#\/study\/study\.\w+$/);
    expect(await page.locator('[data-testid="study-ended"]').textContent()).toMatch(/^Study finished \(FAILURE\)/);
    expect(await statText(page, 'FINISHED')).toBe('1');
    expect(await statText(page, 'FAILED')).toBe('1');
    await page
      .locator('[data-testid="failure"]')
      .filter({ hasText: 'crash' })
      .locator('pre.err-tail')
      .filter({ hasText: 'the last words of crash' })
      .waitFor();
    await page.locator('[data-testid="instance"][data-instance="hold"][data-state="FINISHED"]').waitFor();
    expect(await page.locator('.error-box').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'study-from-folder.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    dash.kill('SIGTERM');
    expect((await dash).exitCode).toBe(0);
  });
});
