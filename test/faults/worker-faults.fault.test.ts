/**
 * Workers that die or freeze mid-step, on a study with separate maestro-worker processes:
 * - SIGKILL: the steps it ran die with it and run again elsewhere;
 * - SIGSTOP longer than its lock (a frozen node), then SIGCONT: its late results are refused;
 * - SIGKILL in the middle of a chain (links in one job): no finished link runs again, no link
 *   runs before its parent.
 * Each ends with the audit.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { killAll, startRun, startWorker } from '../helpers/processes.js';
import { processesWith, readStatus, tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStepBlock } from './audit.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

function study(marker: string): string {
  return `study:
  - name: long
    description: long enough to be interrupted $(N)
    run:
      cmd: ${faultStepBlock(8, `bash -c 'exec -a ${marker} sleep 4' & wait`)}
global.parameters:
  N: {values: [1, 2, 3, 4], label: N.%%}
`;
}

describe('worker faults', () => {
  it('a worker SIGKILLed mid-step: its steps die and run again elsewhere; the audit holds', async () => {
    const dir = tempDir();
    const prefix = `f${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const marker = `maestro-fault-wkill-${randomUUID().slice(0, 8)}`;
    const spec = writeSpec(dir, 'wkill', study(marker));
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const victim = startWorker(redisUrl, prefix, 'victim', ['--concurrency', '4']);
    await waitFor(() => processesWith(marker).length === 4, 30_000, 'four steps to run');
    victim.kill('SIGKILL');
    await victim;
    await waitFor(() => processesWith(marker).length === 0, 10_000, 'the killed worker steps to die');
    const rescuer = startWorker(redisUrl, prefix, 'rescuer', ['--concurrency', '4']);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    const report = auditStudy(root);
    expect(report.problems).toEqual([]);
    rescuer.kill('SIGTERM');
  });

  it('a worker frozen (SIGSTOP) past its lock, then thawed: its late results are refused; the audit holds', async () => {
    const dir = tempDir();
    const prefix = `f${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const marker = `maestro-fault-wstop-${randomUUID().slice(0, 8)}`;
    const spec = writeSpec(dir, 'wstop', study(marker));
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const frozen = startWorker(redisUrl, prefix, 'frozen', ['--concurrency', '4']);
    await waitFor(() => processesWith(marker).length === 4, 30_000, 'four steps to run');
    // A frozen node: the worker and everything it runs stop.
    const stepPids = processesWith(marker);
    frozen.kill('SIGSTOP');
    for (const pid of stepPids) process.kill(pid, 'SIGSTOP');
    const healthy = startWorker(redisUrl, prefix, 'healthy', ['--concurrency', '4']);
    const result = await run; // the healthy worker finishes the study once the locks expire
    expect(result.exitCode, String(result.all)).toBe(0);
    for (const pid of stepPids) process.kill(pid, 'SIGCONT');
    frozen.kill('SIGCONT');
    // The thawed worker finds its locks lost and ends its steps; nothing it reports is accepted.
    await waitFor(() => processesWith(marker).length === 0, 30_000, 'the thawed steps to end');
    const report = auditStudy(root);
    expect(report.problems).toEqual([]);
    frozen.kill('SIGTERM');
    const out = String((await frozen).all);
    expect(out).toMatch(/lock lost|late result refused/);
    healthy.kill('SIGTERM');
  });

  it('a worker SIGKILLed mid-chain: the links it finished do not run again, the rest run after their parents', async () => {
    const dir = tempDir();
    const prefix = `f${randomUUID().slice(0, 8)}`;
    const root = path.join(dir, 'study');
    const marker = `maestro-fault-wchain-${randomUUID().slice(0, 8)}`;
    const link = (name: string, parent: string | undefined, body: string): string =>
      `  - name: ${name}\n    description: a link\n    run:\n      cmd: ${faultStepBlock(8, body)}\n${parent ? `      depends: [${parent}]\n` : ''}`;
    // Each link also notes when it starts and ends, so that the order can be checked.
    const note = (what: string): string =>
      `echo "$MAESTRO_STEP ${what} \`date +%s%N\`" >> ${path.join(dir, 'order.log')}`;
    const work = (extra: string): string => `${note('start')}; ${extra}; ${note('end')}`;
    const spec = writeSpec(
      dir,
      'wchain',
      `study:\n${link('a', undefined, work('sleep 0.2'))}${link('b', 'a', work(`bash -c 'exec -a ${marker} sleep 4' & wait`))}${link('c', 'b', work('sleep 0.2'))}${link('d', 'c', work('sleep 0.2'))}`,
    );
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 0 });
    const victim = startWorker(redisUrl, prefix, 'victim', ['--concurrency', '1']);
    await waitFor(() => processesWith(marker).length === 1, 30_000, 'the second link to run');
    victim.kill('SIGKILL');
    await victim;
    await waitFor(() => processesWith(marker).length === 0, 10_000, 'the killed worker step to die');
    const rescuer = startWorker(redisUrl, prefix, 'rescuer', ['--concurrency', '1']);
    const result = await run;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(auditStudy(root).problems).toEqual([]);
    const rows = readStatus(root);
    expect(rows.map((r) => r.state)).toEqual(['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
    // a ran once; every link started after its parent's last run ended.
    const events = readFileSync(path.join(dir, 'order.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    expect(events.filter(([n, what]) => n === 'a' && what === 'start')).toHaveLength(1);
    const ends = new Map<string, number>();
    for (const [name, what, ns] of events) {
      if (what === 'end') ends.set(name!, Number(ns));
      const parent = { b: 'a', c: 'b', d: 'c' }[name as 'b' | 'c' | 'd'];
      if (what === 'start' && parent)
        expect(ends.get(parent), `${name} started before ${parent} ended`).toBeLessThan(Number(ns));
    }
    rescuer.kill('SIGTERM');
    // The links travelled as one chain: the rescuer, refused the link the victim had finished,
    // handed the rest back rather than run them on its own.
    expect(String((await rescuer).all)).toMatch(/before it in its chain was not run here/);
  });
});
