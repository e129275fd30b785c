/**
 * `maestro status` as people read it: the summary line, colour only on a terminal, the narrow
 * layout, --failed with exit codes and error tails, and --watch redrawing until the study ends
 * (into a pipe, and on a terminal through `script`).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MAESTRO_BIN, maestro } from '../helpers/cli.js';
import { killAll, startMaestro, startRun, waitForOutput } from '../helpers/processes.js';
import { tempDir, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

const newPrefix = (): string => `s${randomUUID().slice(0, 8)}`;
const ESC = '\x1b[';

const failing = `study:
  - name: fine
    description: works
    run:
      cmd: echo fine $(N)
  - name: bad
    description: fails with output
    run:
      cmd: |
        echo "reading input.dat" >&2
        echo "ValueError: negative density" >&2
        exit 4
  - name: after
    description: never runs
    run:
      cmd: echo after
      depends: [bad]
global.parameters:
  N: {values: [1, 2], label: N.%%}
`;

describe('maestro status of a study that ended', () => {
  let root: string;

  beforeAll(async () => {
    const dir = tempDir();
    root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'statusdemo', failing);
    const run = await maestro([
      'run',
      '-o',
      root,
      '--redis',
      redisUrl,
      '--prefix',
      newPrefix(),
      '--local-workers',
      '1',
      spec,
    ]);
    expect(run.exitCode, run.stderr).toBe(2);
  }, 120_000);

  it('prints the summary line and the table, without colour into a pipe', async () => {
    const r = await maestro(['status', root]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toContain(ESC);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`statusdemo (${root})`);
    expect(lines[1]).toMatch(
      /^State: FAILURE \| 4 instances: FINISHED 2, FAILED 2 \| elapsed \d+(m\d\ds|s) \| ETA --$/,
    );
    expect(lines[2]).toMatch(/^Step Name\s+Job ID\s+Workspace\s+State\s+Run Time/);
    expect(r.stdout).toMatch(/^bad\s+\d+\s+bad\s+FAILED/m);
  });

  it('colours the states when asked, and not with NO_COLOR', async () => {
    const always = await maestro(['status', '--color', 'always', root]);
    expect(always.stdout).toContain(`${ESC}1;31mFAILED`);
    expect(always.stdout).toContain(`${ESC}32mFINISHED`);
    const theme = await maestro(['status', '--color', 'always', '--disable-theme', root]);
    expect(theme.stdout).not.toContain(ESC);
    const forced = await maestro(['status', root], { env: { FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain(ESC);
    const none = await maestro(['status', root], { env: { FORCE_COLOR: undefined, NO_COLOR: '1' } });
    expect(none.stdout).not.toContain(ESC);
  });

  it('prints a card per instance in the narrow layout', async () => {
    const r = await maestro(['status', '--layout', 'narrow', root]);
    expect(r.stdout).toContain('STEP:      fine_N.2\nWORKSPACE: fine/N.2\n  State            FINISHED');
    expect(r.stdout).toContain('  Parameters       N:2');
  });

  it('--failed shows only failed instances, with exit codes and the end of their error output', async () => {
    const r = await maestro(['status', '--failed', '--tail', '1', root]);
    expect(r.exitCode).toBe(0);
    const text = r.stdout;
    expect(text).toContain('2 failed instances:');
    expect(text).toMatch(/^bad {2}FAILED {2}exit code 4 {2}bad {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m);
    expect(text).toContain('  | ...\n  | ValueError: negative density');
    expect(text).not.toContain('reading input.dat');
    expect(text).toMatch(/^after {2}FAILED {2}never ran: a step it depends on failed {2}after$/m);
    expect(text).not.toContain('fine_N.1');

    const json = JSON.parse((await maestro(['status', '--failed', '--json', root])).stdout) as {
      failed: {
        'Step Name': string;
        failure: { exitCode: number | null } | null;
        errTail: { lines: string[] } | null;
      }[];
    };
    expect(json.failed.map((f) => [f['Step Name'], f.failure?.exitCode ?? null])).toEqual([
      ['bad', 4],
      ['after', null],
    ]);
    expect(json.failed[0]!.errTail!.lines).toEqual(['reading input.dat', 'ValueError: negative density']);
  });
});

describe('maestro status --watch', () => {
  const gatedSpec = (gate: string): string => `study:
  - name: hold
    description: waits for the test
    run:
      cmd: while [ ! -e ${gate} ]; do sleep 0.05; done
  - name: then
    description: after it
    run:
      cmd: echo then
      depends: [hold]
`;

  it('into a pipe: prints a frame when something changes and ends with the study', async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'watched', gatedSpec(gate));
    const prefix = newPrefix();
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 1 });
    await waitForOutput(run, /starting study/, 60_000);
    const watch = startMaestro(['status', '--watch', '--interval', '200ms', root]);
    // `then` waits for `hold` alone: it was sent in hold's job (a chain), PENDING behind it.
    await waitForOutput(watch, /State: RUNNING \| 2 instances: RUNNING 1, PENDING 1/, 60_000);
    writeFileSync(gate, '');
    const result = await watch;
    expect(result.exitCode).toBe(0);
    const out = result.stdout;
    expect(out).not.toContain(ESC);
    expect(out).toMatch(/Every 0\.2s: maestro status .*\(ended\)\nwatched/);
    expect(out).toMatch(/State: FINISHED \| 2 instances: FINISHED 2 \| elapsed/);
    expect((await run).exitCode).toBe(0);
  });

  it('on a terminal: redraws in place, in colour, and gives the cursor back', async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    mkdirSync(path.dirname(gate), { recursive: true });
    const root = path.join(dir, 'study');
    const spec = writeSpec(dir, 'onatty', gatedSpec(gate));
    const prefix = newPrefix();
    const run = startRun(spec, root, redisUrl, { prefix, localWorkers: 1 });
    await waitForOutput(run, /starting study/, 60_000);
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const cmd = `stty rows 30 cols 120; exec ${process.execPath} ${MAESTRO_BIN} status --watch --interval 200ms ${root}`;
    const tty = execa('script', ['-qec', cmd, '/dev/null'], { reject: false, env: { NO_COLOR: undefined } });
    await waitForOutput(tty, /RUNNING 1/, 60_000);
    writeFileSync(gate, '');
    const r = await tty;
    expect(r.exitCode).toBe(0);
    const out = String(r.stdout);
    expect(out).toContain(`${ESC}?25l`); // cursor hidden while redrawing
    expect(out).toContain(`${ESC}H`); // each frame drawn from the top
    expect(out).toContain(`${ESC}36mRUNNING`); // colour on a terminal
    expect(out).toContain(`${ESC}32mFINISHED 2`);
    expect(out.trimEnd().endsWith(`${ESC}?25h`)).toBe(true); // and the cursor given back
    expect((await run).exitCode).toBe(0);
  });
});

// The terminal test needs util-linux's `script`; fail loudly rather than skip if it is missing.
execFileSync('sh', ['-c', 'command -v script']);
