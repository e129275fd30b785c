/**
 * Hostile and broken specs through the commands a user types: a study of ten million instances
 * is refused before anything is written, unless --max-instances allows it; a YAML bomb is refused
 * before it is expanded; names, labels and values cannot put a workspace outside the study root.
 * Each refusal is exit code 1 with a message saying what to do. No timing is asserted: a refusal
 * that had to build the whole study would blow the suite's memory and timeout instead.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { tempDir, writeSpec } from '../helpers/study.js';

/** A JS parameter generator: X takes the values 0 .. N-1 (`--pargs N:<count>`). */
const COUNTING_PGEN = `export function getParameters({ pargs }) {
  const n = Number(pargs.N);
  return { X: { values: Array.from({ length: n }, (_, i) => i), label: 'X.%%' } };
}
`;

/** `steps` independent steps, each fanned out over every value of X. */
const fannedSteps = (steps: number): string =>
  `study:\n${Array.from({ length: steps }, (_, k) => `  - {name: s${k}, description: d, run: {cmd: "echo $(X)"}}\n`).join('')}`;

function bigStudy(steps: number): { dir: string; spec: string; pgen: string } {
  const dir = tempDir();
  const pgen = path.join(dir, 'count.mjs');
  writeFileSync(pgen, COUNTING_PGEN);
  return { dir, spec: writeSpec(dir, 'big', fannedSteps(steps)), pgen };
}

const TOO_MANY = /more than 2,000,000 step instances .*allow more with --max-instances N/;

describe('a study of ten million step instances', () => {
  // 10 steps x 1,000,000 values = 10,000,000 instances. The refusal comes as the count passes the
  // limit (at the third step), so neither command ever holds ten million instances.
  it('is refused by maestro run and maestro expand, naming --max-instances, and nothing is written', async () => {
    const { dir, spec, pgen } = bigStudy(10);
    const root = path.join(dir, 'study');
    for (const command of [['run', '--dry'], ['run'], ['expand']]) {
      const r = await maestro([...command, spec, '-o', root, '--pgen', pgen, '--pargs', 'N:1000000']);
      expect(r.exitCode, `${command.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(TOO_MANY);
      expect(r.stderr).toMatch(/reached at step 's2'/);
      expect(existsSync(root)).toBe(false);
    }
    expect(readdirSync(dir).sort()).toEqual(['big.yaml', 'count.mjs']);
  });

  // Accepting ten million would mean building them all (about 800 MB and several seconds in
  // `maestro expand`), too much for the suite; 2.1 million, just over the default, shows that the
  // option lifts the limit through the same code path.
  it('is accepted when --max-instances allows it (2.1 million, just over the default)', async () => {
    const { spec, pgen } = bigStudy(3);
    const args = ['expand', spec, '--pgen', pgen, '--pargs', 'N:700000'];
    const refused = await maestro(args);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(TOO_MANY);

    const accepted = await maestro([...args, '--max-instances', '2100000']);
    expect(accepted.exitCode, accepted.stderr).toBe(0);
    expect(accepted.stdout.split('\n')[0]).toMatch(/^big: 2100000 step instances in /);
    expect(accepted.stdout).toContain('s2: 700000 instances, over X');

    const justUnder = await maestro([...args, '--max-instances', '2099999']);
    expect(justUnder.exitCode).toBe(1);
    expect(justUnder.stderr).toMatch(/more than 2,099,999 step instances/);
  });
});

describe('a YAML bomb (billion laughs)', () => {
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let k = 1; k < 9; k++) {
    const prev = String.fromCharCode(96 + k);
    const name = String.fromCharCode(97 + k);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const bomb = `${levels.join('\n')}\nstudy:\n  - {name: s, description: d, run: {cmd: "echo hi"}}\n`;

  it('is refused by maestro validate, run and expand without being expanded', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'bomb', bomb);
    for (const command of [['validate'], ['expand'], ['run', '--dry', '-o', path.join(dir, 'study')]]) {
      const r = await maestro([...command, spec]);
      expect(r.exitCode, `${command[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(
        /bomb\.yaml:\d+:\d+: its aliases expand it to more than [\d,]+ nodes \(a YAML "billion laughs" bomb\?\)/,
      );
    }
    expect(readdirSync(dir)).toEqual(['bomb.yaml']);
  });
});

describe('a spec with 100,000 aliases', () => {
  // Each alias used to walk the whole document again: 10,000 took ~20 s, 100,000 about half an
  // hour. Loading is linear now; a regression shows as this test's timeout.
  it('is validated like any other spec', async () => {
    const dir = tempDir();
    const values = Array.from({ length: 100_000 }, () => '*v').join(', ');
    const spec = writeSpec(
      dir,
      'aliases',
      `env:\n  variables:\n    V: &v 1\nstudy:\n  - {name: s, description: d, run: {cmd: "echo $(X)"}}\nglobal.parameters:\n  X: {values: [${values}], label: X.%%}\n`,
    );
    const r = await maestro(['validate', spec]);
    expect({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }).toEqual({
      exitCode: 0,
      stdout: `${spec}: valid: 1 step, 1 step instance`,
      stderr: '',
    });
  });
});

describe('names too long for the file system (255 bytes a name)', () => {
  it('a 10,000-character step name is refused by validate and run, before anything is written', async () => {
    const dir = tempDir();
    const spec = writeSpec(
      dir,
      'long',
      `study:\n  - {name: ${'a'.repeat(10_000)}, description: d, run: {cmd: "echo hi"}}\n`,
    );
    const expected = `${spec}:3:12: study[0].name: step name '${'a'.repeat(20)}...${'a'.repeat(12)}' (10,000 characters) is too long to name the step's workspace folder; at most 255 bytes once characters other than letters, digits and - _ . ( ) are dropped: the longest folder name file systems take`;
    for (const command of [
      ['validate'],
      ['run', '--dry', '-o', path.join(dir, 'study')],
      ['run', '-o', path.join(dir, 'study')],
    ]) {
      const r = await maestro([...command, spec], { cwd: dir });
      expect({ exitCode: r.exitCode, stderr: r.stderr }, command.join(' ')).toEqual({ exitCode: 1, stderr: expected });
    }
    expect(readdirSync(dir)).toEqual(['long.yaml']);
  });

  it('a study name too long for its folder is refused where it names the folder, and -o avoids it', async () => {
    const dir = tempDir();
    const name = 'n'.repeat(250);
    const spec = writeSpec(dir, 'named', `study:\n  - {name: s, description: d, run: {cmd: "echo hi"}}\n`, false);
    writeFileSync(spec, `description: {name: ${name}, description: d}\n${readFileSync(spec, 'utf8')}`);
    for (const command of [['validate'], ['run', '--dry']]) {
      const r = await maestro([...command, spec], { cwd: dir });
      expect(r.exitCode, command.join(' ')).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^${spec.replace(/[.]/g, '\\.')}:1:21: description\\.name: the study folder is named after the study: 'n{20}\\.\\.\\.\\d{8}-\\d{6}' is 266 bytes long; at most 255 bytes per folder name`,
        ),
      );
    }
    expect(readdirSync(dir)).toEqual(['named.yaml']);
    const ok = await maestro(['run', '--dry', spec, '-o', path.join(dir, 'study')], { cwd: dir });
    expect(ok.exitCode, ok.stderr).toBe(0);
  });
});

describe('names, labels and values that try to leave the study root', () => {
  it('refuses a step name with a path in it', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'esc', 'study:\n  - {name: "../../up", description: d, run: {cmd: "echo hi"}}\n');
    const r = await maestro(['run', '--dry', spec, '-o', path.join(dir, 'study')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/study\[0\]\.name: step name '\.\.\/\.\.\/up' contains '\/'/);
    expect(readdirSync(dir)).toEqual(['esc.yaml']);
  });

  it('keeps every workspace of hostile labels and values inside the root', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'nest', 'study');
    const spec = writeSpec(
      dir,
      'esc',
      `study:
  - {name: s, description: d, run: {cmd: "echo $(X) $(Y)"}}
global.parameters:
  X: {values: ["../../../../outside", "/etc", "a/../../b", "..", "."], label: "../X.%%"}
  Y: {values: [1, 2, 3, 4, 5], label: "Y.%%/.."}
`,
    );
    const r = await maestro(['run', '--dry', spec, '-o', root]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Dry run: 5 step instances written to /);
    // Everything is inside the root: the workspaces are single folders under s/.
    expect(readdirSync(dir).sort()).toEqual(['esc.yaml', 'nest']);
    expect(readdirSync(path.join(dir, 'nest'))).toEqual(['study']);
    const workspaces = readdirSync(path.join(root, 's'));
    expect(workspaces).toHaveLength(5);
    for (const ws of workspaces) {
      expect(ws).not.toMatch(/\//);
      expect(ws).not.toMatch(/^\.\.?$/);
      expect(readdirSync(path.join(root, 's', ws))).toEqual([`s_${ws}.sh`]);
    }
  });
});
