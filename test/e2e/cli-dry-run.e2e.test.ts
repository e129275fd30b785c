/** `maestro run --dry` and `maestro validate` as a user types them. */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { compatDir, REPO_ROOT } from '../helpers/shared.js';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'maestro-dry-'));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

describe('maestro run --dry', () => {
  it('writes the 23 workspaces and scripts of lulesh_sample1_unix.yaml into a timestamped root', async () => {
    const cwd = tmp();
    const r = await maestro(['run', '--dry', path.join(compatDir(), 'lulesh/lulesh_sample1_unix.yaml')], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    // OUTPUT_PATH is ./sample_output/lulesh, relative to where maestro runs (as in the original).
    const parent = path.join(cwd, 'sample_output/lulesh');
    const [rootName, ...others] = readdirSync(parent);
    expect(others).toEqual([]);
    expect(rootName).toMatch(/^lulesh_sample1_\d{8}-\d{6}$/);
    const root = path.join(parent, rootName!);
    const scripts = walk(root).filter((f) => f.endsWith('.sh'));
    expect(scripts).toHaveLength(23);
    const workspaces = new Set(scripts.map((s) => path.relative(root, path.dirname(s))));
    expect(workspaces.size).toBe(23);
    expect(workspaces).toContain('run-lulesh/ITER.10.SIZE.10');
    expect(workspaces).toContain('post-process-lulesh-trials/TRIAL.9');
    const script = readFileSync(path.join(root, 'run-lulesh/ITER.20.SIZE.30/run-lulesh_ITER.20.SIZE.30.sh'), 'utf8');
    expect(script).toBe(`#!/bin/bash\n\n${root}/LULESH/lulesh2.0 -s 30 -i 20 -p > SIZE.30.ITER.20.log\n`);
    expect(statSync(path.join(root, 'make-lulesh/make-lulesh.sh')).mode & 0o111).not.toBe(0);
    expect(readFileSync(path.join(root, 'lulesh_sample1_unix.yaml'), 'utf8')).toBe(
      readFileSync(path.join(compatDir(), 'lulesh/lulesh_sample1_unix.yaml'), 'utf8'),
    );
    const status = readFileSync(path.join(root, 'status.csv'), 'utf8').trim().split('\n');
    expect(status[0]).toBe(
      'Step Name,Job ID,Workspace,State,Run Time,Elapsed Time,Start Time,Submit Time,End Time,Number Restarts,Params',
    );
    expect(status).toHaveLength(24);
    expect(status.slice(1).every((l) => l.split(',')[3] === 'DRYRUN')).toBe(true);
    expect(readFileSync(path.join(root, 'meta/expanded.jsonl'), 'utf8').trim().split('\n')).toHaveLength(23);
    const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8'));
    expect(meta).toMatchObject({ name: 'lulesh_sample1', dryRun: true, instanceCount: 23, root });
    expect(r.stderr).toContain('git dependency LULESH');
  });

  it("prints the node-hours bound of the lulesh sample's Slurm spec: per step and in total", async () => {
    const cwd = tmp();
    const r = await maestro(['run', '--dry', path.join(compatDir(), 'lulesh/lulesh_sample1_unix_slurm.yaml')], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    // run-lulesh: 9 instances × 2 nodes × 10 minutes; make-lulesh sets no walltime.
    expect(r.stdout.trimEnd().split('\n').slice(1)).toEqual([
      'Node-hours, at most (nodes × walltime of each instance; 1 node where a step sets none):',
      '  make-lulesh: 1 instance without a walltime, not counted',
      '  run-lulesh: 3 (9 instances)',
      '  total: 3, and 1 instance without a walltime',
    ]);
    const tree = await maestro(['expand', path.join(compatDir(), 'lulesh/lulesh_sample1_unix_slurm.yaml')], { cwd });
    expect(tree.stdout.trimEnd().split('\n').slice(-4)).toEqual(r.stdout.trimEnd().split('\n').slice(-4));
    const expanded = await maestro(
      ['expand', '--json', path.join(compatDir(), 'lulesh/lulesh_sample1_unix_slurm.yaml')],
      {
        cwd,
      },
    );
    expect(JSON.parse(expanded.stdout).nodeHours).toMatchObject({ total: 3, withoutWalltime: 1 });
  });

  it('never reuses an existing study root: a second run in the same second gets its own folder', async () => {
    const cwd = tmp();
    const spec = path.join(compatDir(), 'hello_world/hello_world.yaml');
    const [a, b] = await Promise.all([
      maestro(['run', '--dry', spec], { cwd }),
      maestro(['run', '--dry', spec], { cwd }),
    ]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    const roots = readdirSync(path.join(cwd, 'sample_output/hello_world'));
    expect(roots).toHaveLength(2);
  });

  it('refuses to write into an existing folder that is not a study, and keeps its files', async () => {
    const cwd = tmp();
    const mine = path.join(cwd, 'precious');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'thesis.tex'), 'do not delete');
    const spec = path.join(compatDir(), 'hello_world/hello_world.yaml');
    const r = await maestro(['run', '--dry', '-y', '-o', mine, spec], { cwd });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/exists and is not a maestro study; refusing/);
    expect(readFileSync(path.join(mine, 'thesis.tex'), 'utf8')).toBe('do not delete');
  });

  it('replaces an earlier study at -o DIR only with -y', async () => {
    const cwd = tmp();
    const spec = path.join(compatDir(), 'hello_world/hello_world.yaml');
    const out = path.join(cwd, 'study');
    expect((await maestro(['run', '--dry', '-o', out, spec], { cwd })).exitCode).toBe(0);
    const again = await maestro(['run', '--dry', '-o', out, spec], { cwd });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/pass -y/);
    expect((await maestro(['run', '--dry', '-y', '-o', out, spec], { cwd })).exitCode).toBe(0);
    expect(existsSync(path.join(out, 'hello_world/hello_world.sh'))).toBe(true);
  });

  it('the README sample runs dry from a copy of the samples folder', async () => {
    const cwd = tmp();
    cpSync(path.join(REPO_ROOT, 'samples'), path.join(cwd, 'samples'), { recursive: true });
    const r = await maestro(['run', '--dry', 'samples/hello_bye_parameterized.yaml'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/8 step instances/);
  });
});

describe('maestro validate', () => {
  it('lists every problem of a spec at once and exits 1', async () => {
    const file = path.join(REPO_ROOT, 'libs/spec/test/fixtures/invalid/many-problems.yaml');
    const r = await maestro(['validate', file]);
    expect(r.exitCode).toBe(1);
    const lines = r.stderr.trim().split('\n');
    // The misspelled dependency of the step with an unknown key comes in the same run (issue #19).
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/many-problems\.yaml:6:12: env\.variables\.EMPTY: is empty; non-empty text or a number/);
    expect(lines[2]).toMatch(/many-problems\.yaml:17:17: study\[1\]\.run\.depends\[0\]: .* no step is named 'aa'/);
    expect(lines[3]).toMatch(/many-problems\.yaml:18:7: study\[1\]\.run\.bogus: unknown key 'bogus'/);
  });

  it('reports a problem of each layer in one run: schema, unknown step, loop, walltime; run refuses the same', async () => {
    const dir = tmp();
    const file = path.join(dir, 'every-layer.yaml');
    cpSync(path.join(REPO_ROOT, 'libs/spec/test/fixtures/invalid/every-layer.yaml'), file);
    const expected = [
      `${file}:9:16: study[0].run.depends: steps depend on each other in a loop: build -> simulate -> report -> build; dependencies must form a DAG: remove one of these depends entries`,
      `${file}:14:24: study[1].run.depends[1]: step 'simulate' depends on 'setup', but no step is named 'setup'; depend on one of: build, simulate, report`,
      `${file}:15:17: study[1].run.walltime: 'ten minutes' is not a walltime; allowed: HH:MM:SS (01:30:00), M:S, minutes (90), D-H, D-H:M, D-H:M:S, or 0, inf or unlimited for no limit`,
      `${file}:18:5: study[2].run.cmd: required key 'cmd' is missing from the run block of step 'report'; the shell commands of the step, as text`,
    ].join('\n');
    const v = await maestro(['validate', file], { cwd: dir });
    expect({ exitCode: v.exitCode, stdout: v.stdout, stderr: v.stderr }).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: expected,
    });
    for (const args of [['run', '--dry'], ['run']]) {
      const r = await maestro([...args, file], { cwd: dir });
      expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 1, stderr: expected });
    }
    expect(readdirSync(dir)).toEqual(['every-layer.yaml']);
  });

  it('reports expansion problems and missing paths together with the schema problems', async () => {
    const dir = tmp();
    const file = path.join(dir, 'late.yaml');
    writeFileSync(
      file,
      [
        'description: {name: late, description: problems found late}',
        'env:',
        '  dependencies:',
        '    paths: [{name: INPUTS, path: ./inputs}]',
        'study:',
        '  - {name: s, description: d, run: {cmd: "ls $(INPUTS) $(post.workspace)", procs: $(P), bogus: 1}}',
        '  - {name: post, description: d, run: {cmd: "echo $(P)", depends: [s]}}',
        'global.parameters:',
        '  P: {values: [1, two], label: P.%%}',
      ].join('\n'),
    );
    const v = await maestro(['validate', file], { cwd: dir });
    expect(v.exitCode).toBe(1);
    expect(v.stderr.split('\n')).toEqual([
      `${file}:4:34: env.dependencies.paths[0].path: path dependency INPUTS: ${dir}/inputs does not exist; allowed: a path that exists (a relative one is taken from the working directory, ${dir})`,
      `${file}:6:42: study[0].run.cmd: $(post.workspace) is used before step 'post' has a workspace: 'post' does not run before 's'; add 'post' (or 'post_*') to the depends of 's'`,
      `${file}:6:83: study[0].run.procs: instance 's_P.two': procs '$(P)' is 'two': not a whole number; allowed: a whole number of at least 1`,
      expect.stringMatching(
        /late\.yaml:6:89: study\[0\]\.run\.bogus: unknown key 'bogus' in the run block of step 's'/,
      ),
    ]);
  });

  it('accepts a good spec', async () => {
    const r = await maestro(['validate', path.join(compatDir(), 'hello_world/hello_bye_parameterized.yaml')]);
    expect(r).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/valid: 2 steps, 8 step instances/) });
  });

  it('says what to do when the file does not exist', async () => {
    const r = await maestro(['validate', 'no-such-spec.yaml']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /^no-such-spec\.yaml: cannot read the spec file: ENOENT; give the path of a readable YAML study specification/,
    );
  });

  it('refuses --pargs without --pgen', async () => {
    const r = await maestro(['expand', path.join(compatDir(), 'hello_world/hello_world.yaml'), '--pargs', 'A:1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--pargs needs --pgen/);
  });
});
