/** The short commands a worker runs to ask its scheduler: their output, status and failures. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../src/run-step.js';

describe('runCommand', () => {
  it('returns the exit status with both outputs', async () => {
    const r = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3'], 10_000);
    expect(r).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('closes stdin', async () => {
    const r = await runCommand('sh', ['-c', 'cat; echo done'], 10_000);
    expect(r).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
  });

  it('names the errno of a command that is missing or not executable', async () => {
    const missing = await runCommand('maestro-no-such-command', [], 10_000);
    expect(missing).toMatchObject({ exitCode: undefined, error: 'ENOENT (no such file or directory)' });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'run-command-')), 'not-executable');
    writeFileSync(file, 'echo hi\n');
    chmodSync(file, 0o644);
    expect(await runCommand(file, [], 10_000)).toMatchObject({
      exitCode: undefined,
      error: 'EACCES (permission denied)',
    });
  });

  it('gives up on a command that does not answer, and kills it', async () => {
    const r = await runCommand('sh', ['-c', 'echo started; exec sleep 60'], 300);
    expect(r).toEqual({ exitCode: undefined, stdout: 'started\n', stderr: '', error: 'no answer within 300 ms' });
  });

  it('says which signal ended a command', async () => {
    const r = await runCommand('sh', ['-c', 'kill -TERM $$'], 10_000);
    expect(r).toMatchObject({ exitCode: undefined, error: 'killed by SIGTERM' });
  });
});
