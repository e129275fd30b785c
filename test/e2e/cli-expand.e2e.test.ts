/**
 * `maestro expand --json -o DIR` and `maestro validate`, run as a user runs them, on every
 * Maestro sample spec: same instance names and edges as the original produced. And on a Merlin
 * spec: the same steps as the spec without Merlin's keys.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('keeps the JSON whole when a walltime cannot be read: job.error and one warning per step', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-walltime-'));
    try {
      const spec = path.join(dir, 'bad-walltime.yaml');
      writeFileSync(
        spec,
        'description: {name: w, description: d}\nstudy:\n  - {name: s, description: d, run: {cmd: "echo $(N)", walltime: "ten minutes"}}\nglobal.parameters:\n  N: {values: [1, 2], label: N.%%}\n',
      );
      const r = await maestro(['expand', '--json', spec]);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toBe(
        "warning: step s_N.1: walltime 'ten minutes' is not a walltime; write minutes (90), M:S, H:M:S (01:30:00) or D-H:M:S; it fails when it is run",
      );
      const steps = (JSON.parse(r.stdout) as { steps: { job: { error?: string } }[] }).steps;
      expect(steps.map((s) => s.job.error)).toEqual([
        expect.stringMatching(/^step s_N\.1: walltime 'ten minutes' is not a walltime/),
        expect.stringMatching(/^step s_N\.2: walltime 'ten minutes' is not a walltime/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
