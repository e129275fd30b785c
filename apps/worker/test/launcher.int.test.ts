/**
 * The step launcher on its own (src/run-step.ts; scripts/launcher.sh and its compiled twin,
 * native/launcher.c, each through the same tests): requests are served while other steps run,
 * no more steps run at once than it has slots, requests of any size and encoding arrive whole,
 * and statuses and signals come back as the step ended.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  LAUNCHER_BINARY,
  launcherKind,
  startLauncher as startOf,
  type LauncherKind,
  type StepLauncher,
} from '../src/run-step.js';
import { liveGroupMembers, parentOf, tempDir } from './helpers.js';

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

function hasCompiler(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the compiled launcher', () => {
  it('is built by `npm run build` wherever a C compiler is, and chosen unless MAESTRO_LAUNCHER=script', () => {
    expect(existsSync(LAUNCHER_BINARY)).toBe(hasCompiler());
    expect(launcherKind('auto')).toBe(hasCompiler() ? 'compiled' : 'script');
    expect(launcherKind('script')).toBe('script');
  });

  it('is passed over for the script where it does not run (built for another machine, or broken)', () => {
    const dir = tempDir();
    const foreign = path.join(dir, 'foreign');
    writeFileSync(foreign, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0, 0, 0]), { mode: 0o755 });
    const wrong = path.join(dir, 'wrong');
    writeFileSync(wrong, '#!/bin/sh\necho hello\n', { mode: 0o755 });
    expect(launcherKind('auto', foreign)).toBe('script');
    expect(launcherKind('auto', wrong)).toBe('script');
    expect(launcherKind('auto', path.join(dir, 'missing'))).toBe('script');
    // Asked for by name, it is an error that says what to do.
    expect(() => launcherKind('compiled', foreign)).toThrow(
      /^MAESTRO_LAUNCHER=compiled: .*foreign does not run here \(missing, or built for another machine/,
    );
  });
});

// The compiled launcher where it was built (the test above says where it must be).
const kinds: LauncherKind[] = existsSync(LAUNCHER_BINARY) ? ['compiled', 'script'] : ['script'];

describe.each(kinds)('the step launcher (%s)', (kind) => {
  const startLauncher = (l: typeof log, slots: number): StepLauncher => startOf(l, slots, kind);
  it('serves every request while a long step runs, not only when some step ends', async () => {
    const root = tempDir();
    launcher = startLauncher(log, 4);
    const long = launcher.spawnStep(stepIn(root, 'long', 'sleep 60'));
    const longPid = await long.started;
    expect(longPid).toBeGreaterThan(0);
    let longEnded = false;
    void long.exited.then(() => (longEnded = true));
    // One short step after another while the long one holds its slot: the other slots serve them.
    for (let i = 0; i < 300; i++) {
      const s = launcher.spawnStep(stepIn(root, `short${i}`, 'echo "$STEP_NAME"'));
      expect(await s.exited).toMatchObject({ exitCode: 0, signal: null });
    }
    expect(readFileSync(path.join(root, 'short299', 'short299.out'), 'utf8')).toBe('short299\n');
    expect(longEnded).toBe(false);
    process.kill(-longPid!, 'SIGTERM');
    expect(await long.exited).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('says whether anything of a step was left in its process group when it ended', async () => {
    const root = tempDir();
    launcher = startLauncher(log, 2);
    expect(await launcher.spawnStep(stepIn(root, 'alone', 'true')).exited).toMatchObject({ groupEmpty: true });
    const leaver = launcher.spawnStep(stepIn(root, 'leaver', 'sleep 30 &'));
    const pid = await leaver.started;
    const exit = await leaver.exited;
    expect(exit).toMatchObject({ exitCode: 0 });
    expect(exit.groupEmpty).toBeUndefined(); // the worker looks for itself, and kills what it finds
    expect(liveGroupMembers(pid!).length).toBe(1);
    process.kill(-pid!, 'SIGKILL');
  });

  it('reports exit statuses and keeps an earlier attempt’s output', async () => {
    const root = tempDir();
    launcher = startLauncher(log, 4);
    const first = stepIn(root, 'a', 'echo first; exit 3');
    expect(await launcher.spawnStep(first).exited).toMatchObject({ exitCode: 3, signal: null });
    expect(await launcher.spawnStep(stepIn(root, 'a', 'echo second')).exited).toMatchObject({ exitCode: 0 });
    expect(readFileSync(path.join(root, 'a', 'a.out.1'), 'utf8')).toBe('first\n');
    expect(readFileSync(path.join(root, 'a', 'a.out'), 'utf8')).toBe('second\n');
  });

  it('runs no more steps at once than it has slots; the others wait for one to come free', async () => {
    const root = tempDir();
    launcher = startLauncher(log, 2);
    const marks = path.join(root, 'marks');
    const steps = ['a', 'b', 'c', 'd', 'e'].map((name) =>
      launcher!.spawnStep(
        stepIn(root, name, `echo "start $STEP_NAME" >>${marks}; sleep 0.3; echo "end $STEP_NAME" >>${marks}`),
      ),
    );
    for (const s of steps) expect(await s.exited).toMatchObject({ exitCode: 0 });
    let inFlight = 0;
    let most = 0;
    for (const line of readFileSync(marks, 'utf8').trim().split('\n')) {
      inFlight += line.startsWith('start') ? 1 : -1;
      most = Math.max(most, inFlight);
    }
    expect(most).toBe(2);
  });

  it('passes paths and values of any size and encoding through whole', async () => {
    const root = tempDir();
    // In a UTF-8 locale bash counts characters; the launcher must still count bytes.
    const lang = process.env['LC_ALL'];
    process.env['LC_ALL'] = 'C.UTF-8';
    try {
      launcher = startLauncher(log, 2);
    } finally {
      if (lang === undefined) delete process.env['LC_ALL'];
      else process.env['LC_ALL'] = lang;
    }
    // 200 kB of variables: more than a pipe holds at once (each under the kernel's 128 kB limit).
    const big = Object.fromEntries(['B1', 'B2', 'B3', 'B4'].map((k) => [k, 'x'.repeat(50_000)]));
    const step = stepIn(root, 'ünïcødé step', 'printf "%s|%s|%s" "$GREETING" "$(( ${#B1} + ${#B4} ))" "$LC_ALL"');
    const s = launcher.spawnStep({ ...step, variables: { GREETING: 'grüß dich, 世界', ...big } });
    expect(await s.exited).toMatchObject({ exitCode: 0 });
    expect(readFileSync(step.stdoutPath, 'utf8')).toBe('grüß dich, 世界|100000|C.UTF-8');
    // And the slot reads the next request from the right place.
    const next = stepIn(root, 'next', 'echo "$STEP_NAME"');
    expect(await launcher.spawnStep(next).exited).toMatchObject({ exitCode: 0 });
    expect(readFileSync(next.stdoutPath, 'utf8')).toBe('next\n');
  });

  it('leaves LC_ALL unset for steps when the worker has none', async () => {
    const root = tempDir();
    const lang = process.env['LC_ALL'];
    delete process.env['LC_ALL'];
    try {
      launcher = startLauncher(log, 1);
    } finally {
      if (lang !== undefined) process.env['LC_ALL'] = lang;
    }
    const step = stepIn(root, 'locale', 'echo "${LC_ALL-unset}"');
    expect(await launcher.spawnStep(step).exited).toMatchObject({ exitCode: 0 });
    expect(readFileSync(step.stdoutPath, 'utf8')).toBe('unset\n');
  });

  it('ends the step of a slot (or launcher) killed from outside, reports its status lost, and goes on', async () => {
    const root = tempDir();
    launcher = startLauncher(log, 2);
    const s = launcher.spawnStep(stepIn(root, 'orphan', 'sleep 60'));
    const pid = (await s.started)!;
    // The step's slot shell; the compiled launcher has no slot processes: it is the launcher
    // itself, which the worker starts again (steps asked for meanwhile wait for the new one).
    process.kill(parentOf(pid)!, 'SIGKILL');
    expect(await s.exited).toMatchObject({
      exitCode: null,
      statusLost: kind === 'compiled' ? 'its launcher died' : 'its launcher slot died',
    });
    await vi.waitFor(() => expect(liveGroupMembers(pid)).toEqual([]), { timeout: 5_000 });
    for (const name of ['after1', 'after2', 'after3']) {
      const next = stepIn(root, name, 'echo "$STEP_NAME"');
      expect(await launcher.spawnStep(next).exited).toMatchObject({ exitCode: 0 });
    }
  });
});
