/**
 * What a study leaves where others could look. The embedded Redis of a study run without
 * --redis listens on a unix socket in a 0700 folder and on no TCP port, and its random password
 * is in exactly one file, meta/redis/password (0600). Unlike the original Maestro, which dumps
 * the whole environment into meta/environment.yaml, nothing of the conductor's environment is
 * written into the study root: a secret-looking variable set for the run is in no file of it
 * (the embedded Redis's append-only file included). The dashboard's password is on no command
 * line either: `--auth user:pw` shows as `user:***`, and `--auth-file` keeps it off altogether.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, waitForOutput } from '../helpers/processes.js';
import { filesContaining, readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';

afterEach(killAll);

/** Inodes of the sockets a process has open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Local addresses of the TCP sockets in LISTEN state (st 0A) among `inodes`, IPv4 and IPv6. */
function listeningTcp(inodes: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) found.push(`${table} ${f[1]}`);
    }
  }
  return found;
}

/** Paths of the unix sockets among `inodes` (/proc/net/unix: ... Inode Path), each once. */
function unixSocketPaths(inodes: ReadonlySet<string>): string[] {
  const paths = readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && inodes.has(f[6]!))
    .map((f) => f[7]!);
  return [...new Set(paths)]; // the listener and each accepted connection carry the same path
}

describe('the embedded Redis and the study root', () => {
  it('listens on no TCP port, keeps its password in one 0600 file, and no environment secret is written', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const release = path.join(dir, 'release');
    const spec = writeSpec(
      dir,
      'exposed',
      `study:
  - name: hold
    description: runs until the test has looked
    run:
      cmd: |
        touch started
        until [ -e ${release} ]; do sleep 0.05; done
  - {name: after, description: d, run: {cmd: "echo done", depends: [hold]}}
`,
    );
    const secrets = {
      MY_TOKEN: `supersecret-xyz-${randomUUID()}`,
      AWS_SECRET_ACCESS_KEY: `aws-${randomUUID()}`,
      GITHUB_TOKEN: `ghp_${randomUUID().replace(/-/g, '')}`,
    };
    const run = startMaestro(['run', '-o', root, '--local-workers', '1', spec], { env: secrets });

    await waitFor(() => existsSync(path.join(root, 'hold', 'started')), 60_000, 'the step to start');
    const redisDir = path.join(root, 'meta', 'redis');
    const password = readFileSync(path.join(redisDir, 'password'), 'utf8').trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    const pid = Number(readFileSync(path.join(redisDir, 'redis.pid'), 'utf8'));

    // No TCP listener at all; its one listener is the socket in meta/redis.
    const inodes = socketInodes(pid);
    expect(listeningTcp(inodes)).toEqual([]);
    expect(unixSocketPaths(inodes)).toEqual([path.join(redisDir, 'redis.sock')]);

    // The folder, the password file and the socket are the user's alone.
    expect(statSync(redisDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(redisDir, 'password')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(redisDir, 'redis.sock')).mode & 0o777).toBe(0o700);

    // The server agrees: port 0, and nothing without the password.
    const anonymous = new Redis({
      path: path.join(redisDir, 'redis.sock'),
      enableReadyCheck: false, // its INFO would fail with NOAUTH before our PING
      retryStrategy: () => null,
    });
    anonymous.on('error', () => undefined);
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();
    const redis = new Redis({ path: path.join(redisDir, 'redis.sock'), password });
    try {
      expect(await redis.config('GET', 'port')).toEqual(['port', '0']);
      expect(await redis.config('GET', 'tls-port')).toEqual(['tls-port', '0']);
      expect(await redis.config('GET', 'unixsocketperm')).toEqual(['unixsocketperm', '700']);
    } finally {
      redis.disconnect();
    }

    // Not on any command line either (redis-server, conductor, local workers, the launcher).
    const ps = String((await execa('ps', ['-eo', 'args='])).stdout);
    expect(ps).toContain(path.join(redisDir, 'redis.sock'));
    expect(ps).not.toContain(password);
    for (const value of Object.values(secrets)) expect(ps).not.toContain(value);

    await execa('touch', [release]);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(readStatus(root).map((r) => r.state)).toEqual(['FINISHED', 'FINISHED']);

    // Afterwards: the password is in its own file and nowhere else (not in redis.conf, the
    // append-only file, logs or status files); no environment was saved, no secret of it.
    expect(filesContaining(root, [password])).toEqual(['meta/redis/password']);
    expect(readFileSync(path.join(redisDir, 'redis.conf'), 'utf8')).not.toMatch(/requirepass/);
    expect(existsSync(path.join(root, 'meta', 'environment.yaml'))).toBe(false);
    expect(filesContaining(root, Object.values(secrets))).toEqual([]);
    expect(String(result.all)).not.toContain(password);
    // The root held more than a spec copy: logs, status, Redis's files were all searched.
    expect(filesContaining(root, ['FINISHED'])).toEqual(expect.arrayContaining(['meta/status.json', 'status.csv']));
    expect(readdirSync(path.join(redisDir, 'appendonlydir')).length).toBeGreaterThan(0);
  });
});

describe("the dashboard's credentials", () => {
  const redisUrl = inject('redisUrl');
  const basic = (user: string, pw: string): Record<string, string> => ({
    Authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`,
  });

  it('--auth user:password shows in neither ps nor /proc/PID/cmdline; --auth-file never is on a command line', async () => {
    const password = `pw-${randomUUID()}`;
    const dash = startMaestro(['dashboard', '--redis', redisUrl, '--port', '0', '--auth', `alice:${password}`]);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const cmdline = readFileSync(`/proc/${dash.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('--auth alice:***');
    expect(cmdline).not.toContain(password);
    const ps = String((await execa('ps', ['-o', 'args=', '-p', String(dash.pid)])).stdout);
    expect(ps).toContain('--auth alice:***');
    expect(ps).not.toContain(password);
    expect(String((await execa('ps', ['-eo', 'args='])).stdout)).not.toContain(password);
    // The credentials still guard it.
    expect((await fetch(`${url}api/info`)).status).toBe(401);
    expect((await fetch(`${url}api/info`, { headers: basic('alice', password) })).status).toBe(200);

    const dir = tempDir();
    const file = path.join(dir, 'dashboard-auth');
    const other = `pw-${randomUUID()}`;
    writeFileSync(file, `bob:${other}\n`, { mode: 0o600 });
    const fromFile = startMaestro(['dashboard', '--redis', redisUrl, '--port', '0', '--auth-file', file]);
    const fileUrl = (await waitForOutput(fromFile, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    expect((await fetch(`${fileUrl}api/info`)).status).toBe(401);
    expect((await fetch(`${fileUrl}api/info`, { headers: basic('bob', other) })).status).toBe(200);
    expect(String((await execa('ps', ['-eo', 'args='])).stdout)).not.toContain(other);

    const both = await maestro(['dashboard', '--redis', redisUrl, '--auth', 'a:b', '--auth-file', file]);
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain('--auth and --auth-file: give one of them, not both');
  });
});
