/**
 * Our expansion against what the original Maestro produced for its own sample specs
 * (../shared/compat/maestrowf/expected.jsonl): same instance names and edges; workspaces and
 * commands too wherever the file records them. Known, deliberate differences are listed in
 * docs/differences-from-maestro.md and here, with the reason.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, SpecError } from '@maestro/spec';
import { compatDir, type CompatCase } from '../../../test/helpers/shared.js';

const dir = compatDir();
const cases: CompatCase[] = readFileSync(path.join(dir, 'expected.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as CompatCase);

const ROOT = '/compat-root';

describe('Maestro sample specs expand as the original expands them', () => {
  it('has cases of both kinds', () => {
    expect(cases.filter((c) => c.expect === 'ok').length).toBeGreaterThan(30);
    expect(cases.filter((c) => c.expect === 'error').length).toBeGreaterThan(3);
  });

  for (const c of cases.filter((x) => x.expect === 'ok')) {
    it(`${c.file}`, () => {
      const file = path.join(dir, c.file);
      const { study } = parseStudy(readFileSync(file, 'utf8'), { file });
      const specRoot = path.dirname(file);
      const x = expandStudy(study, { root: ROOT, specRoot, cwd: '/cwd' });
      const names = Array.from({ length: x.instanceCount }, (_, i) => x.instanceName(i));
      expect([...names].sort()).toEqual([...c.nodes!].sort());
      const edges: string[] = [];
      for (let i = 0; i < x.instanceCount; i++) for (const p of x.parentsOf(i)) edges.push(`${names[p]}->${names[i]}`);
      expect(edges.sort()).toEqual([...c.edges!].sort());
      for (let i = 0; i < x.instanceCount; i++) {
        const inst = x.instance(i);
        if (c.workspaces) expect(inst.workspace).toBe(c.workspaces[inst.name]);
        const placeholders = (s: string) => s.split(ROOT).join('<ROOT>').split(specRoot).join('<SPECROOT>');
        if (c.cmds) expect(placeholders(inst.cmd)).toBe(c.cmds[inst.name]);
        if (c.restarts && c.restarts[inst.name] !== undefined)
          expect(placeholders(inst.restart ?? '')).toBe(c.restarts[inst.name]);
        // Maestro's rule (reference §2): <step> or <step>/<labels>, unsafe characters dropped.
        const expected = inst.name === inst.step ? inst.step : `${inst.step}/${inst.name.slice(inst.step.length + 1)}`;
        expect(inst.workspace).toBe(expected.replace(/[^-_.() A-Za-z0-9/]/g, '').replace(/ /g, '_'));
      }
    });
  }

  for (const c of cases.filter((x) => x.expect === 'error')) {
    it(`${c.file} is refused with a located message (original: ${c.load})`, () => {
      const file = path.join(dir, c.file);
      let error: unknown;
      try {
        const { study } = parseStudy(readFileSync(file, 'utf8'), { file });
        expandStudy(study, { root: ROOT, specRoot: path.dirname(file), cwd: '/cwd' });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SpecError);
      const problems = (error as SpecError).problems;
      expect(problems.length).toBeGreaterThan(0);
      for (const p of problems) {
        expect(p.file).toBe(file);
        expect(p.line).toBeGreaterThan(0);
        expect((error as SpecError).message).toMatch(
          new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `),
        );
      }
    });
  }
});
