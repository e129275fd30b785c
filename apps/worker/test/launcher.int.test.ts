/**
 * The step launcher on its own (src/run-step.ts, scripts/launcher.sh): requests are served while
 * other steps run, and statuses and signals come back as the step ended.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startLauncher, type StepLauncher } from '../src/run-step.js';
import { tempDir } from './helpers.js';

const log = pino({ level: 'silent' });
let launcher: StepLauncher | undefined;
afterEach(async () => {
  await launcher?.close();
  launcher = undefined;
});

function stepIn(root: string, name: string, body: string) {
  const cwd = path.join(root, name);
  mkdirSync(cwd, { recursive: true });
  const scriptPath = path.join(cwd, `${name}.sh`);
  writeFileSync(scriptPath, `#!/bin/bash\n${body}\n`);
  return {
    cwd,
    scriptPath,
    stdoutPath: path.join(cwd, `${name}.out`),
    stderrPath: path.join(cwd, `${name}.err`),
    interpreter: ['/bin/bash'],
    variables: { STEP_NAME: name },
  };
}

describe('the step launcher', () => {
  it('serves every request while a long step runs, not only when some step ends', async () => {
    const root = tempDir();
    launcher = startLauncher(log);
    const long = launcher.spawnStep(stepIn(root, 'long', 'sleep 60'));
    const longPid = await long.started;
    expect(longPid).toBeGreaterThan(0);
    let longEnded = false;
    void long.exited.then(() => (longEnded = true));
    // One short step after another: each request reaches a launcher that sits in `wait -n` for
    // the long step, so each needs its wake-up to be served.
    for (let i = 0; i < 300; i++) {
      const s = launcher.spawnStep(stepIn(root, `short${i}`, 'echo "$STEP_NAME"'));
      expect(await s.exited).toMatchObject({ exitCode: 0, signal: null });
    }
    expect(readFileSync(path.join(root, 'short299', 'short299.out'), 'utf8')).toBe('short299\n');
    expect(longEnded).toBe(false);
    process.kill(-longPid!, 'SIGTERM');
    expect(await long.exited).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('reports exit statuses and keeps an earlier attempt’s output', async () => {
    const root = tempDir();
    launcher = startLauncher(log);
    const first = stepIn(root, 'a', 'echo first; exit 3');
    expect(await launcher.spawnStep(first).exited).toMatchObject({ exitCode: 3, signal: null });
    expect(await launcher.spawnStep(stepIn(root, 'a', 'echo second')).exited).toMatchObject({ exitCode: 0 });
    expect(readFileSync(path.join(root, 'a', 'a.out.1'), 'utf8')).toBe('first\n');
    expect(readFileSync(path.join(root, 'a', 'a.out'), 'utf8')).toBe('second\n');
  });
});
