/**
 * What `WAIT` would cost (issue #23): a write that counts only once a replica has it. The
 * conductor commits its state with one Lua call per batch of changes, and each worker reports a
 * result with one; waiting for a replica after each adds a replication round trip. Measured
 * here on a primary with one replica, both on this machine (loopback: the least a replica on
 * another host could cost), with a commit-shaped script: a record written into the packed state,
 * a field of the study hash, an event appended. maestro does not WAIT (docs/operations.md says
 * what recovers a failover's losses instead); this row is the price it would have.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { startBenchRedis } from '../redis-server.js';
import { median, type BenchContext } from '../rows.js';

const COMMIT = `
redis.call('SETRANGE', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'cursor', ARGV[3])
redis.call('XADD', KEYS[3], '*', 'e', ARGV[2])
return 1`;

/** Milliseconds per commit over `n` commits in a row, each followed by `WAIT 1` if `wait`. */
async function commits(redis: Redis, n: number, wait: boolean): Promise<number> {
  const record = 'x'.repeat(64);
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    await redis.eval(COMMIT, 3, 'b:state', 'b:study', 'b:events', String((k % 1000) * 64), record, String(k));
    if (wait) {
      const acked = (await redis.call('WAIT', '1', '1000')) as number;
      if (acked < 1) throw new Error('the replica did not acknowledge a write within 1 s');
    }
  }
  return (performance.now() - t0) / n;
}

export async function replication(ctx: BenchContext): Promise<void> {
  const primary = await startBenchRedis({ appendonly: true });
  const port = new URL(primary.url).port;
  const replica = await startBenchRedis({ appendonly: true, args: ['--replicaof', '127.0.0.1', port] });
  const scenario = 'replication';
  try {
    const probe = replica.client();
    for (let i = 0; i < 200 && !/master_link_status:up/.test(await probe.info('replication')); i++) await sleep(50);
    const client = primary.client();
    const n = ctx.quick ? 300 : 2000;
    const plain: number[] = [];
    const waited: number[] = [];
    for (let r = 0; r < (ctx.quick ? 1 : 5); r++) {
      // Side by side, in alternating order: the machine's speed drifts.
      if (r % 2) {
        waited.push(await commits(client, n, true));
        plain.push(await commits(client, n, false));
      } else {
        plain.push(await commits(client, n, false));
        waited.push(await commits(client, n, true));
      }
    }
    const base = median(plain);
    const withWait = median(waited);
    ctx.report({ scenario, metric: 'commit, as now', value: base, unit: 'ms' });
    ctx.report({
      scenario,
      metric: 'commit + WAIT 1 (one replica has it)',
      value: withWait,
      unit: 'ms',
      ceiling: base,
      ratio: withWait / base,
    });
  } finally {
    await replica.stop();
    await primary.stop();
  }
}
