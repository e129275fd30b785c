/**
 * What a new user meets first, run as they run it: `maestro expand` shows each instance's
 * command, counts read right in the singular, and a pipe closed early (`| head`) ends a command
 * quietly (no `maestro: write EPIPE`), through a real shell pipe.
 */
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAESTRO_BIN, maestro } from '../helpers/cli.js';
import { tempDir, writeSpec } from '../helpers/study.js';

const script = `study:
  - name: prep
    description: one line
    run:
      cmd: echo preparing $(N) > input.dat
  - name: solve
    description: a script
    run:
      cmd: |
        cd $(WORKSPACE)
        ./solver --size $(N) --tolerance 1e-9
        exit 0
      depends: [prep]
global.parameters:
  N: {values: [10, 20], label: N.%%}
`;

describe('maestro expand without --json', () => {
  let spec: string;
  beforeAll(() => {
    spec = writeSpec(tempDir(), 'cmds', script);
  });

  it("shows each instance's command on a line: the first line of a script, and how many follow", async () => {
    const r = await maestro(['expand', spec]);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/^cmds: 4 step instances in /);
    expect(r.stdout).toContain('  prep_N.10  prep/N.10/\n    $ echo preparing 10 > input.dat\n');
    expect(r.stdout).toMatch(/ {2}solve_N.20 {2}solve\/N.20\/\n {4}\$ cd \/\S+\/solve\/N.20 {2}\[\+2 lines\]$/);
  });

  it('--full prints every command whole', async () => {
    const r = await maestro(['expand', '--full', spec]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /solve_N.10 {2}solve\/N.10\/\n {4}\$ cd \/\S+\/solve\/N.10\n {6}\.\/solver --size 10 --tolerance 1e-9\n {6}exit 0\n/,
    );
  });

  it('counts one step instance in the singular', async () => {
    const one = writeSpec(tempDir(), 'one', 'study:\n  - {name: only, description: d, run: {cmd: echo one}}\n');
    const r = await maestro(['expand', one]);
    expect(r.stdout).toMatch(/^one: 1 step instance in .*\n\nonly: 1 instance\n/);
    expect((await maestro(['validate', one])).stdout).toMatch(/: valid: 1 step, 1 step instance$/);
  });
});

describe('a pipe closed early', () => {
  let big: string;
  let dry: string;
  beforeAll(async () => {
    const dir = tempDir();
    // Far more than a pipe holds (64 KiB), so that maestro is still writing when head has gone.
    const values = (n: number): string => Array.from({ length: n }, (_, k) => k).join(', ');
    const steps = Array.from(
      { length: 40 },
      (_, k) => `  - name: s${k}\n    description: d\n    run:\n      cmd: echo ${'long argument '.repeat(20)} $(N)\n`,
    ).join('');
    big = writeSpec(dir, 'big', `study:\n${steps}global.parameters:\n  N: {values: [${values(300)}], label: N.%%}\n`);
    const wide = writeSpec(
      dir,
      'wide',
      `study:\n  - {name: s, description: d, run: {cmd: echo $(N)}}\nglobal.parameters:\n  N: {values: [${values(1500)}], label: N.%%}\n`,
    );
    dry = path.join(dir, 'dry');
    const r = await maestro(['run', '--dry', '-o', dry, wide]);
    expect(r.exitCode, r.stderr).toBe(0);
  }, 180_000);

  /** `{ maestro ARGS; echo "maestro exit $?" >&2; } | head -1` in a shell: what head and stderr got. */
  async function throughHead(args: string[]): Promise<{ stdout: string; stderr: string }> {
    const command = `{ "$0" "$@"; echo "maestro exit $?" >&2; } | head -1`;
    const r = await execa('sh', ['-c', command, process.execPath, MAESTRO_BIN, ...args], {
      reject: false,
      timeout: 120_000,
    });
    expect(r.exitCode).toBe(0);
    return { stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  it.each([
    ['expand --json', ['expand', '--json']],
    ['expand --full', ['expand', '--full']],
  ])('ends %s quietly, with exit code 0', { timeout: 150_000 }, async (_name, args) => {
    const r = await throughHead([...args, big]);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(r.stderr).toBe('maestro exit 0');
  });

  it('ends status quietly, with exit code 0', { timeout: 150_000 }, async () => {
    const r = await throughHead(['status', dry]);
    expect(r.stdout).toBe(`wide (${dry})`);
    expect(r.stderr).toBe('maestro exit 0');
  });
});
