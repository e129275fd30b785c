/**
 * The queue server fails over (issue #23). Real processes only: a Sentinel set (a primary, two
 * replicas, three sentinels) and a three-primary Redis Cluster, from test/helpers/redis-ha.ts.
 * - A 200-instance study on the Sentinel set whose primary is SIGKILLed twice mid-study
 *   finishes; the audit holds, and each finished step's work (a line in a log shared by every
 *   step) was done exactly once; the test prints how long the study stood still.
 * - The same study on the cluster, with workers in two separate processes, and a dashboard
 *   that shows it.
 * - A wrong sentinel password, or no sentinel reachable: one sentence naming what to fix.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, startWorker, waitForOutput } from '../helpers/processes.js';
import { startRedisCluster, startSentinelSet, MASTER_NAME } from '../helpers/redis-ha.js';
import { freePort } from '../helpers/redis-server.js';
import { readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStep } from './audit.js';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await killAll();
  for (const stop of stops.splice(0)) await stop();
});

/**
 * 200 instances (setup, 99 sims, 99 posts, gather). Each step notes when it starts in
 * `started.log` and, as its work, appends its workspace to `work.log`; both are shared by all
 * steps (`>>` appends whole lines).
 */
function failoverStudy(sleepSeconds: string): string {
  const work = `echo "$(date +%s%3N) $PWD" >> $(SPECROOT)/started.log; sleep ${sleepSeconds}; echo "$(date +%s%3N) $PWD" >> $(SPECROOT)/work.log`;
  const step = faultStep(sleepSeconds, work);
  return `study:
  - {name: setup, description: first, run: {cmd: '${step}'}}
  - name: sim
    description: one of many
    run:
      cmd: '${step} # $(N)'
      depends: [setup]
  - name: post
    description: after its sim
    run:
      cmd: '${step} # $(N)'
      depends: [sim]
  - {name: gather, description: after all, run: {cmd: '${step}', depends: [post_*]}}
global.parameters:
  N: {values: [${Array.from({ length: 99 }, (_, k) => k).join(', ')}], label: N.%%}
`;
}

function finishedCount(root: string): number {
  try {
    return readStatus(root).filter((r) => r.state === 'FINISHED').length;
  } catch {
    return 0;
  }
}

/** The audit, and each FINISHED instance's workspace once in work.log (its work done exactly once). */
function expectAuditAndWorkOnce(dir: string, root: string): void {
  const report = auditStudy(root);
  expect(report.problems).toEqual([]);
  const rows = readStatus(root);
  expect(rows).toHaveLength(200);
  expect(rows.filter((r) => r.state !== 'FINISHED')).toEqual([]);
  const work = workDone(dir);
  // Each with its runs.log ("start|done ATTEMPT RUN PID" lines), so that a failure says how.
  const twice = [...work]
    .filter(([, at]) => at.length !== 1)
    .map(([ws, at]) => `${path.relative(root, ws)} x${at.length}: ${runsLog(ws)}`);
  expect(twice, 'steps whose work was done more than once').toEqual([]);
  expect(rows.map((r) => path.join(root, r.workspace)).filter((ws) => !work.has(ws))).toEqual([]);
}

function runsLog(ws: string): string {
  try {
    return readFileSync(path.join(ws, 'runs.log'), 'utf8').trim().split('\n').join(' | ');
  } catch {
    return '(no runs.log)';
  }
}

/** work.log: each workspace and when its work was done (ms), once per time. */
function workDone(dir: string): Map<string, number[]> {
  const work = new Map<string, number[]>();
  for (const line of readFileSync(path.join(dir, 'work.log'), 'utf8').trim().split('\n')) {
    const [at, ws] = line.split(' ') as [string, string];
    work.set(ws, [...(work.get(ws) ?? []), Number(at)]);
  }
  return work;
}

/**
 * How long the study stood still after `at` (a kill): the longest time between two step starts
 * (started.log) that ends after `at`, and not after `until` (the next kill).
 */
function stillAfter(dir: string, at: number, until = Infinity): number {
  const starts = readFileSync(path.join(dir, 'started.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(l.split(' ')[0]))
    .sort((a, b) => a - b);
  let longest = 0;
  for (let k = 1; k < starts.length; k++) {
    if (starts[k]! > at && starts[k]! <= until) longest = Math.max(longest, starts[k]! - starts[k - 1]!);
  }
  return longest;
}

describe('Redis Sentinel', () => {
  it(
    'a 200-instance study whose primary is SIGKILLed twice finishes; the audit holds; every finished step did its work once',
    { timeout: 300_000 },
    async () => {
      const set = await startSentinelSet({ password: `pw-${randomUUID()}` });
      stops.push(() => set.stop());
      const dir = tempDir('maestro-failover-');
      const root = path.join(dir, 'study');
      const spec = writeSpec(dir, 'failover', failoverStudy('0.3'));
      const run = startRun(spec, root, set.url, { localWorkers: 2, extra: ['--worker-concurrency', '4'] });
      const kills: { at: number; killed: number; promoted: number; failoverMs: number }[] = [];
      for (const when of [30, 110]) {
        await waitFor(() => finishedCount(root) >= when, 120_000, `${when} steps to finish`);
        const at = Date.now();
        const { killed, promoted } = await set.killPrimary();
        kills.push({ at, killed, promoted, failoverMs: Date.now() - at });
      }
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(0);
      expectAuditAndWorkOnce(dir, root);
      for (const [k, kill] of kills.entries()) {
        console.log(
          `failover ${k + 1}: primary :${kill.killed} SIGKILLed, :${kill.promoted} promoted and the old one back as a replica after ${kill.failoverMs} ms; the study stood still ${stillAfter(dir, kill.at, kills[k + 1]?.at)} ms (the longest time without a step starting)`,
        );
      }
    },
  );

  it(
    "writes lost with the old primary (replication stopped for 1.5 s, then it is SIGKILLed): the study finishes; results lost are recovered from the workers' records; no step's work is done twice",
    { timeout: 300_000 },
    async () => {
      const set = await startSentinelSet({ password: `pw-${randomUUID()}` });
      stops.push(() => set.stop());
      const dir = tempDir('maestro-failover-');
      const root = path.join(dir, 'study');
      const spec = writeSpec(dir, 'lostwrites', failoverStudy('0.3'));
      const run = startRun(spec, root, set.url, { localWorkers: 2, extra: ['--worker-concurrency', '4'] });
      await waitFor(() => finishedCount(root) >= 40, 120_000, '40 steps to finish');
      // Replication stops: every write acknowledged from now on exists on the primary alone.
      const frozenAt = Date.now();
      set.stopReplication();
      await waitFor(() => Date.now() - frozenAt >= 1500, 10_000, 'writes to pile up on the primary alone');
      const killedAt = Date.now();
      await set.killPrimary();
      const failoverMs = Date.now() - killedAt;
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(0);
      expectAuditAndWorkOnce(dir, root);
      // The results reported while replication was stopped were lost; the workers found their
      // own record of those runs in the workspaces and reported them again.
      const logs = readdirSync(path.join(root, 'meta/logs')).map((f) =>
        readFileSync(path.join(root, 'meta/logs', f), 'utf8'),
      );
      const recovered = logs.join('').split('result recovered from the workspace').length - 1;
      expect(recovered).toBeGreaterThan(0);
      console.log(
        `lost writes: ${recovered} results lost with the old primary were recovered from the workers' records, no step's work done twice; the study stood still ${stillAfter(dir, killedAt)} ms after the kill (failover ${failoverMs} ms)`,
      );
    },
  );

  it('a wrong sentinel password: maestro run fails with one sentence naming what to fix', async () => {
    const set = await startSentinelSet({ sentinelPassword: 'right' });
    stops.push(() => set.stop());
    const dir = tempDir('maestro-failover-');
    const spec = writeSpec(dir, 'wrongpw', failoverStudy('0'));
    const result = await maestro([
      'run',
      '-o',
      path.join(dir, 'study'),
      '--redis',
      `${set.url}?sentinelPassword=wrong`,
      spec,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^maestro: the sentinels of Redis at redis\+sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/mymaster\?sentinelPassword=\*\*\* refused their password \(WRONGPASS\): give the sentinels' own password with --sentinel-password-file FILE or \?sentinelPassword= in the URL$/,
    );
    expect(result.stderr).not.toContain('wrong@');
    expect(existsSync(path.join(dir, 'study'))).toBe(false);
    // A worker given the same URL says so too, and exits 2 (a configuration problem).
    const worker = startWorker(`${set.url}?sentinelPassword=wrong`, 'maestro', 'w-wrong');
    const w = await worker;
    expect(w.exitCode, String(w.all)).toBe(2);
    expect(String(w.all)).toMatch(
      /--redis: the sentinels of Redis at redis\+sentinel:\/\/[^ ]*\/mymaster\?sentinelPassword=\*\*\* refused their password \(WRONGPASS\)/,
    );
    expect(String(w.all)).not.toContain('sentinelPassword=wrong');
  });

  it('no sentinel reachable: maestro run fails with one sentence naming what to fix', async () => {
    const ports = [await freePort(), await freePort()];
    const dir = tempDir('maestro-failover-');
    const spec = writeSpec(dir, 'nosentinel', failoverStudy('0'));
    const url = `redis+sentinel://${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`;
    const result = await maestro(['run', '-o', path.join(dir, 'study'), '--redis', url, spec], { timeout: 60_000 });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^maestro: no sentinel of redis\+sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/mymaster answered: check the sentinels' addresses and the primary's name in --redis, and that the sentinels run$/,
    );
  });
});

describe('Redis Cluster', () => {
  it(
    'the same study on three shards finishes with workers in two separate processes; a dashboard shows it',
    { timeout: 300_000 },
    async () => {
      const cluster = await startRedisCluster();
      stops.push(() => cluster.stop());
      const dir = tempDir('maestro-cluster-');
      const root = path.join(dir, 'study');
      const spec = writeSpec(dir, 'oncluster', failoverStudy('0.05'));
      const run = startRun(spec, root, cluster.url, { localWorkers: 0 });
      // Workers started apart, by hand, with the plain prefix: they put it in the hash tag themselves.
      const workers = ['w1', 'w2'].map((name) =>
        startWorker(cluster.url, 'maestro', name, ['--concurrency', '4', '--log-level', 'debug']),
      );
      const result = await run;
      expect(result.exitCode, String(result.all)).toBe(0);
      expectAuditAndWorkOnce(dir, root);
      const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as { prefix: string };
      expect(meta.prefix).toBe('{maestro}');
      // Both worker processes ran steps of it.
      for (const w of workers) w.kill('SIGTERM');
      for (const w of workers) expect(String((await w).all)).toMatch(/step finished/);

      // Every key of the deployment (ours and BullMQ's) carries the one hash tag: all in one slot.
      const keys: string[] = [];
      for (const server of cluster.servers) {
        const node = new Redis({ host: '127.0.0.1', port: server.port });
        try {
          keys.push(...(await node.keys('*')));
        } finally {
          node.disconnect();
        }
      }
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith('{maestro}:'))).toEqual([]);

      // A dashboard given only the cluster (no study folder) finds the study in Redis.
      const port = await freePort();
      const dashboard = startMaestro(['dashboard', '--redis', cluster.url, '--port', String(port)]);
      await waitForOutput(dashboard, /maestro dashboard: http/);
      const api = await fetch(`http://127.0.0.1:${port}/api/studies`);
      expect(api.status).toBe(200);
      const body = JSON.stringify(await api.json());
      expect(body).toContain('oncluster');
      expect(body).toMatch(/FINISHED/);
    },
  );
});
