/**
 * Real `redis-server` processes for tests: on a free loopback port, in their own folder, so that
 * a fault test can kill, freeze and restart its own instance. Never a shared or mocked Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

export interface RedisServerOptions {
  /** Append-only file on (`appendfsync everysec`), as the embedded Redis runs. @default false */
  appendonly?: boolean;
  /** `requirepass`. */
  password?: string;
  /** Extra `redis-server` arguments, e.g. ['--user', 'alice on >pw ~* +@all']. */
  args?: string[];
  /** Reuse this folder (a restart keeps the AOF). */
  dir?: string;
  /** Reuse this port (a restart keeps the URL). */
  port?: number;
  /**
   * TLS only (`--port 0 --tls-port P`, clients not asked for certificates); the URL becomes
   * `rediss://...@localhost:P`. Certificates from test/helpers/tls.ts.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  /** redis://[:password@]127.0.0.1:port (rediss://[:password@]localhost:port with `tls`) */
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT) without waiting. */
  signal(sig: NodeJS.Signals): void;
}

/**
 * Runs a Lua script that keeps `redis` busy for `ms` (a server starved of CPU, a huge script):
 * past the server's lua-time-limit, Redis answers every other command BUSY until it ends.
 * Resolves with the script's reply, 1.
 */
export function keepBusy(redis: Pick<Redis, 'eval'>, ms: number): Promise<unknown> {
  return redis.eval(
    "local function now() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end " +
      'local t0 = now() while now() - t0 < tonumber(ARGV[1]) do end return 1',
    0,
    String(ms),
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'maestro-redis-'));
  for (let tries = 0; ; tries++) {
    const port = options.port ?? (await freePort());
    const listen = options.tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          options.tls.certFile,
          '--tls-key-file',
          options.tls.keyFile,
          '--tls-ca-cert-file',
          options.tls.caFile,
          '--tls-auth-clients',
          'no',
        ]
      : ['--port', String(port)];
    const args = [
      ...listen,
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      options.appendonly ? 'yes' : 'no',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
      ...(options.password ? ['--requirepass', options.password] : []),
      ...(options.args ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const ready = await waitReady(child, () => output);
    if (!ready) {
      child.kill('SIGKILL');
      if (tries < 5 && options.port === undefined && /Address already in use/.test(output)) continue;
      throw new Error(`redis-server did not start on port ${port}:\n${output}`);
    }
    const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
    return {
      port,
      dir,
      url: options.tls ? `rediss://${auth}localhost:${port}` : `redis://${auth}127.0.0.1:${port}`,
      process: child,
      signal: (sig) => void child.kill(sig),
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }
}

async function waitReady(child: ChildProcess, output: () => string): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (/Ready to accept connections/.test(output())) return true;
    if (child.exitCode !== null) return false;
    await sleep(25);
  }
  return false;
}

/**
 * A Redis reachable from a cluster's nodes the way a real one would be: TCP (loopback here, since
 * every node of the test cluster is this machine) with a password, which workers read from a
 * file only its owner can read.
 */
export interface ClusterRedis {
  /** redis://127.0.0.1:PORT, no password. */
  url: string;
  passwordFile: string;
  password: string;
  server: RedisServer;
}

export async function startClusterRedis(): Promise<ClusterRedis> {
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const server = await startRedisServer({ password });
  const passwordFile = path.join(mkdtempSync(path.join(tmpdir(), 'maestro-pw-')), 'redis-password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  return { url: `redis://127.0.0.1:${server.port}`, passwordFile, password, server };
}
