/** A private redis-server for a benchmark run, on a free loopback port; measured, then stopped. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface BenchRedis {
  readonly url: string;
  readonly process: ChildProcess;
  client(): Redis;
  /** `used_memory` in bytes. */
  usedMemory(): Promise<number>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function startBenchRedis(options: { appendonly?: boolean; args?: string[] } = {}): Promise<BenchRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-bench-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
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
      ...(options.args ?? []),
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined); // refused until the server listens: the loop below retries
  for (let i = 0; i < 200; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      await sleep(25);
    }
  }
  const clients: Redis[] = [probe];
  return {
    url,
    process: child,
    client: () => {
      const c = new Redis(url);
      clients.push(c);
      return c;
    },
    usedMemory: async () => Number(/used_memory:(\d+)/.exec(await probe.info('memory'))?.[1] ?? 0),
    stop: async () => {
      for (const c of clients) c.disconnect();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
