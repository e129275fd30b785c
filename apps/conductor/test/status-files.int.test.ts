/**
 * status.csv while a study runs: rows of unchanged instances are copied from the file written
 * last, and what is written must always equal what a fresh writer, formatting every row, would
 * write, also after someone else changed the file.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, inject, it } from 'vitest';
import { expandStudy, parseStudy } from '@maestro/spec';
import type { Conductor } from '../src/conductor/conductor.js';
import { StatusFiles } from '../src/status/files.js';
import { ScriptedWorker } from './helpers/scripted-worker.js';
import { testConductor } from './helpers/test-conductor.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function freshCsv(conductor: Conductor, studyId: string): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'maestro-status-fresh-'));
  mkdirSync(path.join(root, 'meta'));
  return new StatusFiles(root, studyId)
    .write(conductor)
    .then(() => readFileSync(path.join(root, 'status.csv'), 'utf8'));
}

it('writes status.csv, copying unchanged blocks from the last file, exactly as a full rewrite would, at every write', async () => {
  const n = 5_250; // eleven slices, the last one short
  const values = Array.from({ length: n }, (_, k) => k).join(', ');
  const { study } = parseStudy(`description: {name: t, description: test}
study:
  - {name: s, description: d, run: {cmd: "true $(N)"}}
  - {name: end, description: d, run: {cmd: "true", depends: [s_*]}}
global.parameters:
  N: {values: [${values}], label: N.%%}
`);
  const root = mkdtempSync(path.join(tmpdir(), 'maestro-status-'));
  mkdirSync(path.join(root, 'meta'));
  const x = expandStudy(study, { root, specRoot: root, cwd: root });
  const { conductor, prefix, studyId, close } = testConductor(url, x, { window: 500 });
  // Every 7th instance fails: rows change state in scattered slices, not in order.
  const worker = new ScriptedWorker(url, prefix, (job) =>
    job.index % 7 === 3 ? { outcome: 'failed', exitCode: 1 } : { outcome: 'succeeded' },
  );
  closers.push(async () => {
    await worker.close();
    await close();
  });

  // Written over and over while results arrive: slices are cached in one state and must be
  // rebuilt once their instances change.
  const files = new StatusFiles(root, studyId);
  const done = conductor.run();
  let finished = false;
  void done.then(() => (finished = true));
  const versions = new Set<string>();
  while (!finished) {
    await files.write(conductor);
    versions.add(readFileSync(path.join(root, 'status.csv'), 'utf8'));
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await done).toBe('FAILURE');
  expect(versions.size).toBeGreaterThan(2);
  await files.write(conductor);
  const written = readFileSync(path.join(root, 'status.csv'), 'utf8');
  expect(written).toBe(await freshCsv(conductor, studyId));
  const lines = written.trimEnd().split('\n');
  expect(lines).toHaveLength(n + 2); // the header, n instances of s, end
  expect(lines.filter((l) => l.includes(',FAILED,'))).toHaveLength(Math.floor((n - 4) / 7) + 2); // + end

  // Changed by someone else (longer, or same size but another file): not copied from.
  const csv = path.join(root, 'status.csv');
  appendFileSync(csv, 'junk\n');
  await files.write(conductor);
  expect(readFileSync(csv, 'utf8')).toBe(written);
  writeFileSync(`${csv}.other`, written.replaceAll('FINISHED', 'FINISHEX'));
  await rename(`${csv}.other`, csv);
  await files.write(conductor);
  expect(readFileSync(csv, 'utf8')).toBe(written);
});
