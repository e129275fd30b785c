/**
 * The ceiling of real-spawn scenarios: what the work costs without maestro. In a loop, `slots`
 * at a time: create the workspace, write the script, spawn bash on it with its output files, wait.
 * Prints {steps, ms}.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [root = '/tmp', nText = '1000', slotsText = '1', offsetText = '0'] = process.argv.slice(2);
const n = Number(nText);
const offset = Number(offsetText);
let next = 0;

async function one(k: number): Promise<void> {
  const ws = path.join(root, 's', `N.${k}`);
  mkdirSync(ws, { recursive: true });
  const script = path.join(ws, `s_N.${k}.sh`);
  writeFileSync(script, '#!/bin/bash\n\ntrue\n', { mode: 0o755 });
  const out = openSync(path.join(ws, `s_N.${k}.out`), 'w');
  const err = openSync(path.join(ws, `s_N.${k}.err`), 'w');
  await new Promise((resolve) => {
    const child = spawn('/bin/bash', [script], { cwd: ws, stdio: ['ignore', out, err], detached: true });
    child.on('exit', resolve);
  });
  closeSync(out);
  closeSync(err);
}

const t0 = performance.now();
await Promise.all(
  Array.from({ length: Number(slotsText) }, async () => {
    while (next < n) await one(offset + next++);
  }),
);
process.stdout.write(`${JSON.stringify({ steps: n, ms: performance.now() - t0 })}\n`);
