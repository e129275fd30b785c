/**
 * The bare loop's work with steps started as maestro-worker starts them: through its launcher
 * (apps/worker/scripts/launcher.sh), `slots` at a time. No Redis, no BullMQ, no conductor: what
 * this costs over the bare loop is the launcher's part; what `maestro run` costs over this is
 * the queue's. Prints {steps, ms}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { startLauncher } from '@maestro/worker';

const [root = '/tmp', nText = '1000', slotsText = '1', offsetText = '0'] = process.argv.slice(2);
const n = Number(nText);
const slots = Number(slotsText);
const offset = Number(offsetText);
const launcher = startLauncher(pino({ level: 'warn' }), slots);
let next = 0;

async function one(k: number): Promise<void> {
  const ws = path.join(root, 's', `N.${k}`);
  const made = mkdirSync(ws, { recursive: true });
  const script = path.join(ws, `s_N.${k}.sh`);
  writeFileSync(script, '#!/bin/bash\n\ntrue\n', { mode: 0o755 });
  const step = launcher.spawnStep({
    interpreter: ['/bin/bash'],
    scriptPath: script,
    cwd: ws,
    variables: { MAESTRO_STEP_INDEX: String(k) },
    stdoutPath: path.join(ws, `s_N.${k}.out`),
    stderrPath: path.join(ws, `s_N.${k}.err`),
    mayHoldEarlierOutput: made === undefined, // as the worker tells it
  });
  const exit = await step.exited;
  if (exit.exitCode !== 0) throw new Error(`step ${k} ended ${JSON.stringify(exit)}`);
}

const t0 = performance.now();
await Promise.all(
  Array.from({ length: slots }, async () => {
    while (next < n) await one(offset + next++);
  }),
);
const ms = performance.now() - t0;
await launcher.close();
process.stdout.write(`${JSON.stringify({ steps: n, ms })}\n`);
