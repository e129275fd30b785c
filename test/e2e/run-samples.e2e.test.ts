/**
 * `maestro run` for real, as a user types it, with no Redis configured (the study's own
 * embedded server and local workers): the README's sample, and every Maestro sample spec that
 * needs no scheduler and no external program.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { compatDir, REPO_ROOT, type CompatCase } from '../helpers/shared.js';
import { readStatus, tempDir } from '../helpers/study.js';

const dir = compatDir();
const cases: CompatCase[] = readFileSync(path.join(dir, 'expected.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as CompatCase);

/** Scheduler specs need Slurm/Flux/LSF; the LULESH ones clone and build a code from GitHub. */
function runsHere(file: string): boolean {
  const spec = parse(readFileSync(path.join(dir, file), 'utf8')) as {
    batch?: { type?: string };
    env?: { dependencies?: { git?: unknown } };
  };
  const type = spec.batch?.type ?? 'local';
  return type === 'local' && !spec.env?.dependencies?.git;
}

const runnable = cases.filter((c) => c.expect === 'ok' && runsHere(c.file));

describe('maestro run on the Maestro samples', () => {
  it('covers most of the samples (the rest need a scheduler or the LULESH sources)', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(20);
  });

  it.each(runnable.map((c) => [c.file, c] as const))('%s runs to FINISHED', async (file, c) => {
    const cwd = tempDir();
    const root = path.join(cwd, 'study');
    const r = await maestro(['run', '-o', root, path.join(dir, file)], { cwd, timeout: 120_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const rows = readStatus(root);
    expect(rows.map((x) => x.name).sort()).toEqual([...c.nodes!].sort());
    expect(rows.every((x) => x.state === 'FINISHED')).toBe(true);
    const expanded = JSON.parse((await maestro(['expand', '--json', '-o', root, path.join(dir, file)])).stdout) as {
      steps: { name: string; workspace: string; cmd: string }[];
    };
    for (const s of expanded.steps) {
      const ws = path.join(root, s.workspace);
      const base = s.name.replace(/[^-_.() A-Za-z0-9]/g, '').replace(/ /g, '_');
      expect(existsSync(path.join(ws, `${base}.sh`)), `${ws}/${base}.sh`).toBe(true);
      expect(existsSync(path.join(ws, `${base}.out`)), `${ws}/${base}.out`).toBe(true);
      // Every file a step writes with `> file` is in its own workspace.
      for (const m of s.cmd.matchAll(/>>?\s*([^\s;&|<>]+)/g)) {
        const target = m[1]!;
        if (target.startsWith('/') || target.includes('$')) continue;
        expect(existsSync(path.join(ws, target)), `${s.name} wrote ${target}`).toBe(true);
      }
    }
  });
});

describe('the README first command', () => {
  it('runs the sample study with no Redis configured and prints the status table', async () => {
    const cwd = tempDir();
    const env = { ...process.env };
    delete env['MAESTRO_REDIS_URL'];
    const r = await maestro(['run', path.join(REPO_ROOT, 'samples/hello_bye_parameterized.yaml')], {
      cwd,
      env,
      timeout: 120_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Step Name\s+Job ID\s+Workspace\s+State/);
    expect(r.stdout.match(/FINISHED/g)?.length).toBeGreaterThanOrEqual(8);
    const root = /Study FINISHED: (.+)$/m.exec(r.stdout)![1]!;
    expect(readFileSync(path.join(root, 'say-bye/GREETING.Ciao.NAME.Jim/bye.txt'), 'utf8')).toBe(
      'Bye, Jim!\nCiao, Jim!\n',
    );
    // The embedded Redis is gone with the run, and its folder is private.
    expect(existsSync(path.join(root, 'meta/redis/redis.sock'))).toBe(false);
  });
});
