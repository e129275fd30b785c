/**
 * Highly available Redis for tests, from real processes on free loopback ports:
 * - a Sentinel set: a primary, two replicas and three sentinels (`redis-server FILE --sentinel`)
 *   that promote a replica when the primary dies;
 * - a Redis Cluster of three primaries (`--cluster-enabled yes`, joined by
 *   `redis-cli --cluster create`).
 * Each test stops what it started (`stop()` in afterEach).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServer } from './redis-server.js';

const run = promisify(execFile);

export const MASTER_NAME = 'mymaster';

export interface SentinelSetOptions {
  /** Password of the data servers (`requirepass`, and `masterauth` for replication). */
  password?: string;
  /** The sentinels' own password (`requirepass` in their configuration). */
  sentinelPassword?: string;
  /** How long a primary must be silent before the sentinels call it down. @default 1000 */
  downAfterMs?: number;
}

/**
 * A TCP relay in front of the first primary: everyone (replicas, sentinels, clients) knows it by
 * the relay's port, so that a test can stop replication alone (the primary still answers and
 * acknowledges every write; its replicas get none of it). Freezing drops what the primary sends
 * on replication links (those that sent PSYNC): a replica never sees those writes, not even from
 * a kernel buffer, as it would after SIGSTOP and SIGCONT. The sentinels, which correct a replica
 * that follows another address than theirs, see one address too.
 */
interface ReplicationRelay {
  readonly port: number;
  freeze(): void;
  thaw(): void;
  close(): void;
}

async function startReplicationRelay(primaryPort: number): Promise<ReplicationRelay> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((replica) => {
    const primary = connect(primaryPort, '127.0.0.1');
    for (const s of [replica, primary]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        replica.destroy();
        primary.destroy();
      });
    }
    let replication = false;
    replica.on('data', (d: Buffer) => {
      replication ||= d.includes('PSYNC');
      primary.write(d);
    });
    primary.on('data', (d: Buffer) => void ((frozen && replication) || replica.write(d)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    freeze: () => void (frozen = true),
    thaw: () => void (frozen = false),
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

export interface SentinelSet {
  /** `redis+sentinel://[:password@]127.0.0.1:S1,...,127.0.0.1:S3/mymaster` (no sentinel password). */
  readonly url: string;
  readonly sentinelPorts: readonly number[];
  /** Every data server started, by port (a restarted one replaces its entry). */
  readonly servers: Map<number, RedisServer>;
  /** The port of the primary, as the sentinels say it now. */
  primaryPort(): Promise<number>;
  /**
   * SIGKILLs the primary, waits until the sentinels promoted a replica, and starts the killed
   * server again (from its append-only file, as a replica of the new primary). `afterKill` runs
   * once the primary is dead, before the wait. Returns the ports.
   */
  killPrimary(afterKill?: () => void): Promise<{ killed: number; promoted: number }>;
  /**
   * From now on the first primary's writes no longer reach its replicas (they replicate through a
   * relay the test controls); a failover then loses them, as asynchronous replication can.
   */
  stopReplication(): void;
  stop(): Promise<void>;
}

/** A client of one sentinel, for the helper's own questions. */
function sentinelClient(port: number, password: string | undefined): Redis {
  const r = new Redis({ host: '127.0.0.1', port, password, lazyConnect: false, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  return r;
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function serverArgs(o: SentinelSetOptions, primaryPort?: number): string[] {
  return [
    ...(o.password ? ['--masterauth', o.password] : []),
    ...(primaryPort ? ['--replicaof', '127.0.0.1', String(primaryPort)] : []),
  ];
}

async function startSentinel(
  dir: string,
  primaryPort: number,
  o: Required<Pick<SentinelSetOptions, 'downAfterMs'>> & SentinelSetOptions,
): Promise<{ port: number; process: ChildProcess }> {
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    // The sentinel rewrites this file as it learns (replicas, other sentinels, failovers).
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${o.downAfterMs}`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        ...(o.password ? [`sentinel auth-pass ${MASTER_NAME} ${o.password}`] : []),
        ...(o.sentinelPassword ? [`requirepass ${o.sentinelPassword}`] : []),
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    for (let i = 0; i < 200 && child.exitCode === null && !/Sentinel ID is/.test(output); i++) await sleep(25);
    if (/Sentinel ID is/.test(output)) return { port, process: child };
    child.kill('SIGKILL');
    if (tries < 5 && /Address already in use/.test(output)) continue;
    throw new Error(`redis-server --sentinel did not start on port ${port}:\n${output}`);
  }
}

export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const o = { downAfterMs: 1000, ...options };
  const servers = new Map<number, RedisServer>();
  const sentinels: ChildProcess[] = [];
  const primary = await startRedisServer({ appendonly: true, password: o.password, args: serverArgs(o) });
  servers.set(primary.port, primary);
  const relay = await startReplicationRelay(primary.port);
  for (let k = 0; k < 2; k++) {
    const replica = await startRedisServer({
      appendonly: true,
      password: o.password,
      args: serverArgs(o, relay.port),
    });
    servers.set(replica.port, replica);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'maestro-sentinel-'));
  const sentinelPorts: number[] = [];
  for (let k = 0; k < 3; k++) {
    const s = await startSentinel(dir, relay.port, o);
    sentinels.push(s.process);
    sentinelPorts.push(s.port);
  }
  const clients = sentinelPorts.map((p) => sentinelClient(p, o.sentinelPassword));
  const stop = async (): Promise<void> => {
    relay.close();
    for (const c of clients) c.disconnect();
    for (const s of sentinels) s.kill('SIGKILL');
    await Promise.all([...servers.values()].map((s) => s.stop()));
  };
  try {
    // Ready once every sentinel knows both replicas and the two other sentinels: a failover needs them.
    await waitUntil('the sentinels to know the set', 30_000, async () => {
      for (const c of clients) {
        const replicas = (await c.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][];
        const peers = (await c.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as string[][];
        const online = replicas.filter((r) => !String(r[r.indexOf('flags') + 1]).includes('down'));
        if (online.length < 2 || peers.length < 2) return false;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  // The first primary is known by the relay's port.
  const serverPort = (port: number): number => (port === relay.port ? primary.port : port);
  const primaryPort = async (): Promise<number> => {
    for (const c of clients) {
      try {
        const addr = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
        return serverPort(Number(addr[1]));
      } catch {
        // ask the next one
      }
    }
    throw new Error('no sentinel answered');
  };
  /**
   * The primary once the set is whole again: every sentinel names the same server, it says it is
   * the primary, and both replicas are attached to it (the one restarted after a kill included).
   */
  const healthyPrimary = async (): Promise<number> => {
    let port = 0;
    await waitUntil('the set to be whole (one primary, two replicas, sentinels agreeing)', 60_000, async () => {
      const named = new Set<number>();
      for (const c of clients) {
        const addr = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
        named.add(serverPort(Number(addr[1])));
      }
      if (named.size !== 1) return false;
      port = [...named][0]!;
      const server = new Redis({ host: '127.0.0.1', port, password: o.password, maxRetriesPerRequest: 1 });
      server.on('error', () => {});
      try {
        const info = await server.info('replication');
        return /role:master/.test(info) && /connected_slaves:2/.test(info);
      } finally {
        server.disconnect();
      }
    });
    return port;
  };
  const auth = o.password ? `:${encodeURIComponent(o.password)}@` : '';
  return {
    url: `redis+sentinel://${auth}${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`,
    sentinelPorts,
    servers,
    primaryPort,
    stopReplication: () => relay.freeze(),
    async killPrimary(afterKill) {
      const killed = await healthyPrimary();
      const victim = servers.get(killed)!;
      victim.signal('SIGKILL');
      await new Promise((r) => (victim.process.exitCode !== null ? r(null) : victim.process.once('exit', r)));
      relay.thaw(); // the links through it died with the primary; a restarted one may replicate
      afterKill?.();
      let promoted = killed;
      await waitUntil('a replica to be promoted', 60_000, async () => {
        promoted = await primaryPort();
        return promoted !== killed;
      });
      // Back from its append-only file, as a replica of the new primary, so that the set can
      // fail over again.
      const back = await startRedisServer({
        appendonly: true,
        password: o.password,
        dir: victim.dir,
        port: killed,
        args: serverArgs(o, promoted),
      });
      servers.set(killed, back);
      return { killed, promoted };
    },
    stop,
  };
}

export interface RedisClusterSet {
  /** `redis+cluster://[:password@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` */
  readonly url: string;
  readonly servers: readonly RedisServer[];
  stop(): Promise<void>;
}

/** Three primaries joined into one cluster, every slot covered. */
export async function startRedisCluster(options: { password?: string } = {}): Promise<RedisClusterSet> {
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => void (await Promise.all(servers.map((s) => s.stop())));
  try {
    for (let k = 0; k < 3; k++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'maestro-cluster-'));
      servers.push(
        await startRedisServer({
          appendonly: true,
          dir,
          password: options.password,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            path.join(dir, 'nodes.conf'),
            '--cluster-node-timeout',
            '5000',
            ...(options.password ? ['--masterauth', options.password] : []),
          ],
        }),
      );
    }
    await run('redis-cli', [
      ...(options.password ? ['-a', options.password, '--no-auth-warning'] : []),
      '--cluster',
      'create',
      ...servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitUntil('the cluster to be ready', 30_000, async () => {
      for (const s of servers) {
        const c = new Redis({ host: '127.0.0.1', port: s.port, password: options.password, maxRetriesPerRequest: 1 });
        c.on('error', () => {});
        try {
          const info = (await c.call('CLUSTER', 'INFO')) as string;
          if (!/cluster_state:ok/.test(info)) return false;
        } finally {
          c.disconnect();
        }
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    url: `redis+cluster://${auth}${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
    servers,
    stop,
  };
}
