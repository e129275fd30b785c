/**
 * Redis credentials end to end, against real `redis-server`s that demand them: a `requirepass`
 * password (in --redis, in MAESTRO_REDIS_URL, in a password file), an ACL user, and TLS with a
 * private CA. Real studies run with the conductor and separate `maestro-worker` processes; the
 * password must appear nowhere: not in any file of the study root (conductor log, worker logs,
 * study.json, status.json, status.csv), not in the output of any process, not in the `ps`
 * arguments of any process sampled while the study runs. Wrong credentials and wrong CAs fail at
 * once with a message that says what to fix, without echoing the password.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maestro, WORKER_BIN } from '../helpers/cli.js';
import { killAll, startMaestro, startWorker, waitForOutput } from '../helpers/processes.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { filesContaining, readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';

afterEach(killAll);

/** Characters that must be URL-encoded, so that both forms of the password are looked for. */
const newPassword = (): string => `p@ss:w/rd-${randomUUID()}`;
const enc = encodeURIComponent;
const newPrefix = (): string => `c${randomUUID().slice(0, 8)}`;
/** Commands that must fail by themselves: a hang (retrying forever) fails the test soon. */
const ENDS_BY_ITSELF = { timeout: 60_000 };

const servers: RedisServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});
async function server(options: Parameters<typeof startRedisServer>[0]): Promise<RedisServer> {
  const s = await startRedisServer(options);
  servers.push(s);
  return s;
}

function passwordFile(password: string): string {
  const file = path.join(tempDir('maestro-pw-'), 'redis-password');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return file;
}

/** Six steps of 0.3 s and one after them: long enough to be seen in `ps`. */
function writeStudy(): { dir: string; spec: string; root: string } {
  const dir = tempDir();
  const spec = writeSpec(
    dir,
    'creds',
    `study:
  - {name: work, description: d, run: {cmd: "sleep 0.3; echo done $(N) > out.txt"}}
  - {name: gather, description: d, run: {cmd: "cat $(work.workspace)/*/out.txt | wc -l", depends: [work_*]}}
global.parameters:
  N: {values: [1, 2, 3, 4, 5, 6], label: N.%%}
`,
  );
  return { dir, spec, root: path.join(dir, 'study') };
}

async function psLines(): Promise<string[]> {
  const r = await execa('ps', ['-eo', 'args='], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Every `ps -eo args` line seen between start() and stop(). */
function samplePs(): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      for (const line of await psLines()) seen.add(line);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    async stop() {
      sampling = false;
      await loop;
      return [...seen];
    },
  };
}

/** Asserts that no form of `password` is anywhere a user or another user could look. */
function expectNoLeak(password: string, where: { root: string; outputs: string[]; ps: string[] }): void {
  const forms = [password, enc(password)];
  expect(filesContaining(where.root, forms)).toEqual([]);
  for (const out of where.outputs) for (const f of forms) expect(out).not.toContain(f);
  expect(where.ps.filter((line) => forms.some((f) => line.includes(f)))).toEqual([]);
  // The files the issue names exist, so their absence from the list above means something.
  for (const f of ['meta/conductor.log', 'meta/study.json', 'meta/status.json', 'status.csv']) {
    expect(statSync(path.join(where.root, f)).size, f).toBeGreaterThan(0);
  }
}

interface RunOptions {
  /** Arguments of `maestro run` that say how to reach Redis. */
  conductorArgs: string[];
  conductorEnv?: NodeJS.ProcessEnv;
  /** MAESTRO_REDIS_URL of the separate workers, and their extra arguments. */
  workerUrl: string;
  workerArgs: string[];
  localWorkers?: number;
}

/** Runs the study with two separate maestro-worker processes; returns what to look at. */
async function runStudy(o: RunOptions): Promise<{ root: string; outputs: string[]; ps: string[] }> {
  const { spec, root } = writeStudy();
  const prefix = newPrefix();
  const run = startMaestro(
    ['run', '-o', root, ...o.conductorArgs, '--prefix', prefix, '--local-workers', String(o.localWorkers ?? 0), spec],
    { env: { ...o.conductorEnv } },
  );
  if (o.conductorArgs.some((a) => /\/\/[^/@]*:[^/@]+@/.test(a))) {
    // A password typed on the command line is in the conductor's arguments from exec() until
    // its bin script rewrites its title, the first thing it does (ps-title.ts): a window of a
    // few milliseconds no program can close, which is why the docs say to use
    // MAESTRO_REDIS_URL or --redis-password-file. The sampling starts once it has done so.
    await waitFor(
      async () => (await psLines()).some((l) => l.includes(root) && l.includes('--redis redis') && l.includes(':***@')),
      30_000,
      'the conductor to hide the password from ps',
    );
  }
  const ps = samplePs();
  const workers = ['one', 'two'].map((name) => startWorker(o.workerUrl, prefix, `w-${name}`, o.workerArgs));
  const result = await run;
  const lines = await ps.stop();
  for (const w of workers) w.kill('SIGTERM');
  const ended = await Promise.all(workers);
  expect(result.exitCode, String(result.all)).toBe(0);
  expect(readStatus(root).map((r) => r.state)).toEqual(Array(7).fill('FINISHED'));
  for (const w of ended) expect(w.exitCode, String(w.all)).toBe(0);
  // The sampler did see the processes it is meant to check.
  expect(lines.some((l) => l.includes('maestro.js run'))).toBe(true);
  expect(lines.some((l) => l.includes('maestro-worker.js'))).toBe(true);
  return { root, outputs: [String(result.all), ...ended.map((w) => String(w.all))], ps: lines };
}

describe('a Redis with requirepass', () => {
  let password: string;
  let redis: RedisServer;
  let bare: string;
  beforeAll(async () => {
    password = newPassword();
    redis = await server({ password });
    bare = `redis://127.0.0.1:${redis.port}`;
  });

  it('--redis redis://:pw@ for the conductor, a password file for the workers: no trace of it', async () => {
    const seen = await runStudy({
      conductorArgs: ['--redis', redis.url],
      workerUrl: bare,
      workerArgs: ['--redis-password-file', passwordFile(password)],
      localWorkers: 1, // gets the URL through its environment
    });
    expectNoLeak(password, seen);
    // The URL the study records has no password; the conductor warned nothing away.
    const meta = JSON.parse(readFileSync(path.join(seen.root, 'meta/study.json'), 'utf8')) as { redis: unknown };
    expect(meta.redis).toEqual({ mode: 'external', url: `${bare}` });
    // Its title in `ps` showed the URL with the password replaced.
    expect(
      seen.ps.some((l) => l.includes('maestro.js run') && l.includes(`redis://:***@127.0.0.1:${redis.port}`)),
    ).toBe(true);
  });

  it('MAESTRO_REDIS_URL for the conductor and the workers: no trace of it', async () => {
    const seen = await runStudy({
      conductorArgs: [],
      conductorEnv: { MAESTRO_REDIS_URL: redis.url },
      workerUrl: redis.url,
      workerArgs: [],
    });
    expectNoLeak(password, seen);
  });

  it('a maestro-worker given the password in --redis hides it from ps (and warns)', async () => {
    const name = `argv-${randomUUID().slice(0, 8)}`;
    const w = startWorker(redis.url, newPrefix(), name, ['--redis', redis.url]);
    const mine = (lines: string[]): string[] => lines.filter((l) => l.includes(name));
    await waitFor(async () => mine(await psLines()).some((l) => l.includes('--redis redis://:***@')), 30_000, 'title');
    const ps = samplePs();
    let out = '';
    w.all?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('worker started'), 30_000, 'the worker to start');
    const lines = mine(await ps.stop());
    expect(lines.length).toBeGreaterThan(0);
    for (const f of [password, enc(password)]) expect(lines.filter((l) => l.includes(f))).toEqual([]);
    w.kill('SIGTERM');
    expect((await w).exitCode).toBe(0);
    expect(out).toMatch(/visible to other users in `ps`/);
    for (const f of [password, enc(password)]) expect(out).not.toContain(f);
  });

  it('a wrong password fails at once, saying so, without echoing it', async () => {
    const wrong = newPassword();
    const { spec, dir } = writeStudy();
    const r = await maestro(
      [
        'run',
        '-o',
        path.join(dir, 'study'),
        '--redis',
        `redis://:${enc(wrong)}@127.0.0.1:${redis.port}`,
        '--local-workers',
        '0',
        spec,
      ],
      ENDS_BY_ITSELF,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials: WRONGPASS/);
    for (const f of [wrong, enc(wrong), password, enc(password)]) expect(r.stdout + r.stderr).not.toContain(f);
    expect(filesContaining(dir, [wrong, enc(wrong)])).toEqual([]);

    const w = await execaWorker(['--redis', bare, '--redis-password-file', passwordFile(wrong)]);
    expect(w.exitCode).toBe(2);
    expect(w.all).toMatch(
      /^maestro-worker: --redis-password-file: Redis at redis:\/\/127\.0\.0\.1:\d+ refused the credentials: WRONGPASS/m,
    );
    for (const f of [wrong, enc(wrong)]) expect(w.all).not.toContain(f);

    const none = await execaWorker(['--redis', bare]);
    expect(none.exitCode).toBe(2);
    expect(none.all).toMatch(/--redis: Redis at redis:\/\/127\.0\.0\.1:\d+ refused the credentials: NOAUTH/);
  });
});

describe('an ACL user (redis://alice:pw@)', () => {
  it('runs a study as alice, the default user disabled, and refuses a wrong password', async () => {
    const password = newPassword();
    const redis = await server({
      args: ['--user', 'default', 'off', '--user', 'alice', 'on', `>${password}`, '~*', '&*', '+@all'],
    });
    const host = `127.0.0.1:${redis.port}`;
    const seen = await runStudy({
      conductorArgs: ['--redis', `redis://alice:${enc(password)}@${host}`],
      workerUrl: `redis://alice@${host}`,
      workerArgs: ['--redis-password-file', passwordFile(password)],
    });
    expectNoLeak(password, seen);
    const meta = JSON.parse(readFileSync(path.join(seen.root, 'meta/study.json'), 'utf8')) as { redis: unknown };
    expect(meta.redis).toEqual({ mode: 'external', url: `redis://alice@${host}` });

    const wrong = newPassword();
    const { spec, dir } = writeStudy();
    const r = await maestro(
      [
        'run',
        '-o',
        path.join(dir, 'study'),
        '--redis',
        `redis://alice:${enc(wrong)}@${host}`,
        '--local-workers',
        '0',
        spec,
      ],
      ENDS_BY_ITSELF,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Redis at redis:\/\/alice:\*\*\*@127\.0\.0\.1:\d+ refused the credentials: WRONGPASS/);
    for (const f of [wrong, enc(wrong)]) expect(r.stderr).not.toContain(f);
  });
});

describe('TLS (rediss://) with a private CA', () => {
  let certs: TestCertificates;
  let password: string;
  let redis: RedisServer;
  let bare: string;
  beforeAll(async () => {
    certs = makeTestCertificates();
    password = newPassword();
    redis = await server({ password, tls: certs });
    bare = `rediss://localhost:${redis.port}`;
  });

  it('runs a study with --tls-ca-file for the conductor and the workers', async () => {
    const seen = await runStudy({
      conductorArgs: ['--redis', redis.url, '--tls-ca-file', certs.caFile],
      workerUrl: bare,
      workerArgs: ['--redis-password-file', passwordFile(password), '--tls-ca-file', certs.caFile],
    });
    expectNoLeak(password, seen);
  });

  it('local workers get the CA from the conductor (MAESTRO_REDIS_TLS_CA_FILE)', async () => {
    const { spec, root } = writeStudy();
    const r = await maestro(['run', '-o', root, '--prefix', newPrefix(), '--local-workers', '2', spec], {
      env: { MAESTRO_REDIS_URL: redis.url, MAESTRO_REDIS_TLS_CA_FILE: certs.caFile },
      timeout: 60_000, // without the CA its workers would retry forever and the study would wait
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readStatus(root).every((row) => row.state === 'FINISHED')).toBe(true);
    expect(filesContaining(root, [password, enc(password)])).toEqual([]);
  });

  it('maestro dashboard reads the study over rediss:// with the CA, and says what is missing without it', async () => {
    const { spec, root } = writeStudy();
    const prefix = newPrefix();
    const r = await maestro(['run', '-o', root, '--prefix', prefix, '--local-workers', '2', spec], {
      env: { MAESTRO_REDIS_URL: redis.url, MAESTRO_REDIS_TLS_CA_FILE: certs.caFile },
      timeout: 60_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);

    const dash = startMaestro([
      'dashboard',
      '--redis',
      redis.url,
      '--tls-ca-file',
      certs.caFile,
      '--prefix',
      prefix,
      '--port',
      '0',
    ]);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const studies = (await (await fetch(`${url}api/studies`)).json()) as { items: { id: string; state: string }[] };
    expect(studies.items).toEqual([expect.objectContaining({ state: 'FINISHED' })]);
    const info = (await (await fetch(`${url}api/info`)).json()) as { redis: string };
    expect(info.redis).toBe(bare);
    for (const p of ['api/info', 'api/studies', `api/studies/${studies.items[0]!.id}`, 'queues/api/queues']) {
      const res = await fetch(`${url}${p}`);
      expect(res.status, p).toBe(200);
      const text = await res.text();
      for (const secret of [password, enc(password)]) expect(text, p).not.toContain(secret);
    }
    dash.kill('SIGTERM');
    const ended = await dash;
    for (const secret of [password, enc(password)]) expect(String(ended.all)).not.toContain(secret);

    const noCa = await maestro(['dashboard', '--redis', redis.url, '--prefix', prefix, '--port', '0'], ENDS_BY_ITSELF);
    expect(noCa.exitCode).toBe(1);
    expect(noCa.stderr).toMatch(
      /TLS connection failed: .*; give the CA that signed the server's certificate with --tls-ca-file FILE/,
    );
    expect(noCa.stderr).not.toContain(enc(password));
  });

  it('a wrong, missing or unreadable CA fails at once with a message naming --tls-ca-file', async () => {
    const { spec, dir } = writeStudy();
    const run = (extra: string[]) =>
      maestro(
        ['run', '-o', path.join(dir, `s${randomUUID()}`), '--redis', redis.url, ...extra, '--local-workers', '0', spec],
        ENDS_BY_ITSELF,
      );

    const wrong = await run(['--tls-ca-file', certs.otherCaFile]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(
      /Redis at rediss:\/\/:\*\*\*@localhost:\d+: TLS connection failed: .*certificate.* \(SELF_SIGNED_CERT_IN_CHAIN\); is .*other\.crt the CA that signed the server's certificate\?/,
    );
    const missing = await run([]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(
      /TLS connection failed: .*; give the CA that signed the server's certificate with --tls-ca-file FILE/,
    );
    const unreadable = await run(['--tls-ca-file', path.join(dir, 'no-such-ca.crt')]);
    expect(unreadable.exitCode).toBe(1);
    expect(unreadable.stderr).toMatch(
      /--tls-ca-file: cannot read .*no-such-ca\.crt: ENOENT \(no such file or directory\)/,
    );
    for (const r of [wrong, missing, unreadable]) expect(r.stderr).not.toContain(enc(password));

    const pw = passwordFile(password);
    const worker = await execaWorker([
      '--redis',
      bare,
      '--redis-password-file',
      pw,
      '--tls-ca-file',
      certs.otherCaFile,
    ]);
    expect(worker.exitCode).toBe(2);
    expect(worker.all).toMatch(
      /^maestro-worker: --tls-ca-file: Redis at rediss:\/\/localhost:\d+: TLS connection failed: /m,
    );
    const noCa = await execaWorker(['--redis', bare, '--redis-password-file', pw]);
    expect(noCa.exitCode).toBe(2);
    expect(noCa.all).toMatch(/give the CA that signed the server's certificate with --tls-ca-file FILE/);
  });
});

/** A maestro-worker that is expected to exit by itself (the credentials are wrong). */
async function execaWorker(args: string[]): Promise<{ exitCode: number; all: string }> {
  const r = await execa(process.execPath, [WORKER_BIN, '--prefix', newPrefix(), ...args], {
    reject: false,
    all: true,
    env: { MAESTRO_REDIS_URL: undefined, MAESTRO_REDIS_PASSWORD_FILE: undefined },
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, all: String(r.all) };
}
