/**
 * What a new user meets first, run as they run it: `maestro expand` shows each instance's
 * command, and counts read right in the singular.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
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
