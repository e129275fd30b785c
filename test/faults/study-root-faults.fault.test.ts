/**
 * The file system under a step fails: its workspace's disk is full, or read-only. The step
 * fails with a message naming the path and the error; the rest of the study goes on; the audit
 * holds. A small tmpfs mounted over the step's folder plays the failing disk (the suite runs as
 * root, as CI does).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startMaestro } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { auditStudy, faultStep } from './audit.js';

const mounts: string[] = [];
afterEach(async () => {
  await killAll();
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
});

function spec(): string {
  return `study:
  - {name: gate, description: waits for the test, run: {cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')}'}}
  - {name: victim, description: its disk fails, run: {cmd: '${faultStep('0.1')}', depends: [gate]}}
  - {name: bystander, description: unaffected, run: {cmd: '${faultStep('0.1')}', depends: [gate]}}
`;
}

describe.each([
  ['full', 'size=16k', /ENOSPC \(no space left on device\)/],
  ['read-only', 'ro,size=1m', /EROFS \(read-only file system\)/],
])('a step whose disk is %s', (_kind, options, message) => {
  it('fails with a message naming the path and the error; the others finish', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const file = writeSpec(dir, 'disk', spec());
    const run = startMaestro(['run', '-o', root, '--local-workers', '1', '--worker-concurrency', '2', file]);
    await waitFor(() => existsSync(path.join(root, 'status.csv')), 60_000, 'the study to start');
    const victim = path.join(root, 'victim');
    mkdirSync(victim, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', victim]);
    mounts.push(victim);
    if (options.startsWith('size=')) {
      // Fill it: the step's workspace cannot be written.
      try {
        writeFileSync(path.join(victim, 'filler'), Buffer.alloc(64 * 1024));
      } catch {
        // full
      }
    }
    writeFileSync(path.join(dir, 'go'), '');
    const result = await run;
    expect(result.exitCode).toBe(2);
    const report = auditStudy(root);
    expect(report.problems).toEqual([]);
    expect(report.states).toEqual({ gate: 'FINISHED', victim: 'FAILED', bystander: 'FINISHED' });
    const log = readFileSync(path.join(root, 'meta/conductor.log'), 'utf8');
    expect(log).toMatch(message);
    expect(log).toContain(victim);
  });
});
