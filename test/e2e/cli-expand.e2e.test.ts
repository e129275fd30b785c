/**
 * `maestro expand --json -o DIR` and `maestro validate`, run as a user runs them, on every
 * Maestro sample spec: same instance names and edges as the original produced. And on a Merlin
 * spec: the same steps as the spec without Merlin's keys.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { compatDir, REPO_ROOT, type CompatCase } from '../helpers/shared.js';

const dir = compatDir();
const cases: CompatCase[] = readFileSync(path.join(dir, 'expected.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as CompatCase);

interface ExpandJson {
  name: string;
  root: string;
  steps: {
    name: string;
    step: string;
    workspace: string;
    params: Record<string, string>;
    depends: string[];
    cmd: string;
    restart: string | null;
    job: {
      queue: string;
      interpreter: string[];
      timeoutMs: number | null;
      resources: Record<string, number | boolean>;
    };
  }[];
}

describe('maestro expand --json on the Maestro samples', () => {
  it.concurrent.each(cases.filter((c) => c.expect === 'ok').map((c) => [c.file, c] as const))(
    '%s',
    async (_file, c) => {
      const out = mkdtempSync(path.join(tmpdir(), 'maestro-expand-'));
      const r = await maestro(['expand', '--json', '-o', out, path.join(dir, c.file)]);
      expect(r.stderr.split('\n').filter((l) => l && !l.includes('warning:'))).toEqual([]);
      expect(r.exitCode).toBe(0);
      const json = JSON.parse(r.stdout) as ExpandJson;
      expect(json.root).toBe(out);
      expect(json.steps.map((s) => s.name).sort()).toEqual([...c.nodes!].sort());
      const edges = json.steps.flatMap((s) => s.depends.map((d) => `${d}->${s.name}`));
      expect(edges.sort()).toEqual([...c.edges!].sort());
      const specRoot = path.dirname(path.join(dir, c.file));
      for (const s of json.steps) {
        const placeholders = (t: string) => t.split(out).join('<ROOT>').split(specRoot).join('<SPECROOT>');
        if (c.workspaces) expect(s.workspace).toBe(c.workspaces[s.name]);
        if (c.cmds) expect(placeholders(s.cmd)).toBe(c.cmds[s.name]);
        expect(s.cmd).not.toContain('$(WORKSPACE)');
      }
    },
  );

  it.concurrent.each(cases.filter((c) => c.expect === 'error').map((c) => [c.file, c] as const))(
    '%s exits 1 with a located message and no stack trace',
    async (_file, c) => {
      const file = path.join(dir, c.file);
      const r = await maestro(['expand', '--json', file]);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: \\S+: .+; .+`, 'm'),
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const v = await maestro(['validate', file]);
      expect(v.exitCode).toBe(1);
      expect(v.stderr).toBe(r.stderr);
    },
  );
});

describe('maestro expand --json on a Merlin spec', () => {
  const fixtures = path.join(REPO_ROOT, 'libs/spec/test/fixtures/merlin');

  it('gives the same steps as the spec without Merlin keys, and both validate', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'maestro-merlin-'));
    const [merlin, plain] = await Promise.all(
      ['merlin-study.yaml', 'plain-study.yaml'].map((f) =>
        maestro(['expand', '--json', '-o', out, path.join(fixtures, f)]),
      ),
    ).finally(() => rmSync(out, { recursive: true, force: true }));
    for (const r of [merlin!, plain!])
      expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const steps = (r: { stdout: string }) => (JSON.parse(r.stdout) as ExpandJson).steps;
    const withoutJob = (r: { stdout: string }) => steps(r).map(({ job: _job, ...rest }) => rest);
    expect(steps(merlin!)).toHaveLength(10);
    expect(withoutJob(merlin!)).toEqual(withoutJob(plain!));
    for (const f of ['merlin-study.yaml', 'plain-study.yaml']) {
      const v = await maestro(['validate', path.join(fixtures, f)]);
      expect(v.exitCode).toBe(0);
      expect(v.stdout).toMatch(/: valid: 5 steps, 10 step instances$/);
    }
  });

  it('shows in job how each instance runs: task_queue, shell, walltime, resources', async () => {
    const jobs = async (f: string) =>
      new Map(
        (JSON.parse((await maestro(['expand', '--json', path.join(fixtures, f)])).stdout) as ExpandJson).steps.map(
          (s) => [s.name, s.job],
        ),
      );
    const [merlin, plain] = [await jobs('merlin-study.yaml'), await jobs('plain-study.yaml')];
    const sim = { timeoutMs: 600_000, resources: { nodes: 1, procs: 8 } };
    expect(merlin.get('sim_SIZE.10.X2.0.5')).toEqual({ queue: 'sim_queue', interpreter: ['/bin/bash'], ...sim });
    expect(plain.get('sim_SIZE.10.X2.0.5')).toEqual({ queue: 'steps', interpreter: ['/bin/bash'], ...sim });
    expect(merlin.get('python3_hello_X2.0.5')).toEqual({
      queue: 'pyth3_q',
      interpreter: ['/usr/bin/env', 'python3'],
      timeoutMs: null,
      resources: {},
    });
    expect(merlin.get('verify_X2.1.5')).toMatchObject({ queue: 'verify_queue', resources: { nodes: 1 } });
  });

  it('refuses walltimes that cannot be read, as validate does: located, each bad instance named', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-walltime-'));
    try {
      const spec = path.join(dir, 'bad-walltime.yaml');
      writeFileSync(
        spec,
        'description: {name: w, description: d}\nstudy:\n  - {name: s, description: d, run: {cmd: "echo $(N)", walltime: "ten minutes"}}\n  - {name: t, description: d, run: {cmd: "echo $(W)", walltime: $(W)}}\nglobal.parameters:\n  N: {values: [1, 2, 3], label: N.%%}\n  W: {values: ["1:00", soon, later], label: W.%%}\n',
      );
      const allowed =
        'allowed: HH:MM:SS (01:30:00), M:S, minutes (90), D-H, D-H:M, D-H:M:S, or 0, inf or unlimited for no limit';
      const expected = `${spec}:3:65: study[0].run.walltime: 'ten minutes' is not a walltime; ${allowed}`;
      const r = await maestro(['expand', '--json', spec]);
      expect({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }).toEqual({
        exitCode: 1,
        stdout: '',
        stderr: expected,
      });
      // Fixed, the instances whose $(W) is not a walltime are next, all at once.
      writeFileSync(spec, readFileSync(spec, 'utf8').replace('ten minutes', '00:10:00'));
      const v = await maestro(['validate', spec]);
      expect(v.exitCode).toBe(1);
      expect(v.stderr).toBe(
        [
          `${spec}:4:65: study[1].run.walltime: instance 't_W.soon': walltime '$(W)' is 'soon': not a walltime; ${allowed}`,
          `${spec}:4:65: study[1].run.walltime: instance 't_W.later': walltime '$(W)' is 'later': not a walltime; ${allowed}`,
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('batch types and token order as Maestro has them (issue #19 item 7)', () => {
  it('loads and expands an lsf-srun study, a label holding a path dependency getting its path', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-lsf-srun-'));
    try {
      const spec = path.join(dir, 'lsf-srun.yaml');
      writeFileSync(
        spec,
        [
          'description: {name: lsf-srun, description: a Merlin-style LSF study through srun}',
          'batch: {type: lsf-srun, host: lassen, bank: wbronze, queue: pdebug}',
          'env:',
          '  labels: {MODEL: $(MODEL_DIR)/mesh.h5}',
          '  dependencies:',
          '    paths: [{name: MODEL_DIR, path: ./models}]',
          'study:',
          '  - {name: sim, description: d, run: {cmd: "$(LAUNCHER) ./sim $(MODEL) -s $(SIZE)", procs: 4, nodes: 1}}',
          'global.parameters:',
          '  SIZE: {values: [10, 20], label: SIZE.%%}',
        ].join('\n'),
      );
      mkdirSync(path.join(dir, 'models'));
      const v = await maestro(['validate', spec], { cwd: dir });
      expect({ exitCode: v.exitCode, stdout: v.stdout, stderr: v.stderr }).toEqual({
        exitCode: 0,
        stdout: `${spec}: valid: 1 step, 2 step instances`,
        stderr: '',
      });
      const r = await maestro(['expand', '--json', spec, '-o', path.join(dir, 'study')], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      const x = JSON.parse(r.stdout) as ExpandJson;
      expect(x.steps.map((s) => s.cmd)).toEqual([
        `$(LAUNCHER) ./sim ${dir}/models/mesh.h5 -s 10`,
        `$(LAUNCHER) ./sim ${dir}/models/mesh.h5 -s 20`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
