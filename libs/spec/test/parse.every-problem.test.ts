/**
 * Every problem of every layer in one pass (issue #19 item 3): schema problems no longer hide the
 * dependency, cycle and walltime checks, which run on whatever parts of the spec are usable; and
 * what is left out for its own problem is not reported a second time where it is used.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, readStudy, SpecError, SpecErrorCode, type SpecProblem } from '@maestro/spec';

const fixtures = path.join(import.meta.dirname, 'fixtures/invalid');
const places = { root: '/root', specRoot: '/specs', cwd: '/cwd' };

/** Every problem readStudy finds, then those expanding the usable parts adds. */
function everyProblem(text: string): SpecProblem[] {
  const { study, errors } = readStudy(text, { file: 'f.yaml' });
  const out = [...errors];
  if (study) {
    try {
      expandStudy(study, places);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      out.push(...err.problems);
    }
  }
  return out;
}

const brief = (ps: readonly SpecProblem[]): string[] => ps.map((p) => `${p.line}:${p.col} ${p.path} ${p.code}`);

describe('one pass reports every layer', () => {
  it('a schema problem, an unknown dependency, a loop and a bad walltime: four located problems', () => {
    const file = path.join(fixtures, 'every-layer.yaml');
    let problems: readonly SpecProblem[] = [];
    try {
      parseStudy(readFileSync(file, 'utf8'), { file });
      expect.unreachable();
    } catch (err) {
      problems = (err as SpecError).problems;
    }
    expect(brief(problems)).toEqual([
      `9:16 study[0].run.depends ${SpecErrorCode.Cycle}`,
      `14:24 study[1].run.depends[1] ${SpecErrorCode.UnknownStep}`,
      `15:17 study[1].run.walltime ${SpecErrorCode.InvalidValue}`,
      `18:5 study[2].run.cmd ${SpecErrorCode.MissingKey}`,
    ]);
    // The loop goes through the step whose cmd is missing: it was still checked.
    expect(problems[0]!.message).toBe('steps depend on each other in a loop: build -> simulate -> report -> build');
    expect(problems[1]!.message).toMatch(/no step is named 'setup'/);
    expect(problems[2]!.message).toBe("'ten minutes' is not a walltime");
  });

  it('readStudy gives the usable study with the problems, steps keeping their places in the file', () => {
    const { study, errors } = readStudy(
      [
        'description: {name: partial, description: d}',
        'study:',
        '  - not a step',
        '  - {name: a, description: d, run: {cmd: echo a, procs: many}}',
        '  - {name: b, run: {cmd: echo b, depends: [a]}}',
      ].join('\n'),
      { file: 'f.yaml' },
    );
    expect(brief(errors)).toEqual([
      `3:5 study[0] ${SpecErrorCode.WrongType}`,
      `4:57 study[1].run.procs ${SpecErrorCode.WrongType}`,
      `5:5 study[2].description ${SpecErrorCode.MissingKey}`,
    ]);
    expect(study!.steps.map((s) => [s.name, s.fileIndex, s.depends.map((d) => d.step)])).toEqual([
      ['a', 1, []],
      ['b', 2, ['a']],
    ]);
    expect(study!.steps[0]!.run).toEqual({ cmd: 'echo a' });
    const x = expandStudy(study!, places);
    expect(x.steps.map((s) => [s.name, s.fileIndex])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('expansion problems of the usable parts come too: a $(P) walltime that is not one', () => {
    const problems = everyProblem(
      [
        'description: {name: p, description: d}',
        'study:',
        '  - {name: s, description: d, run: {cmd: "echo $(W)", walltime: $(W), bogus: 1}}',
        'global.parameters:',
        '  W: {values: ["1:00", soon], label: W.%%}',
      ].join('\n'),
    );
    expect(brief(problems)).toEqual([
      `3:71 study[0].run.bogus ${SpecErrorCode.UnknownKey}`,
      `3:65 study[0].run.walltime ${SpecErrorCode.InvalidValue}`,
    ]);
    expect(problems[1]!.message).toBe("instance 's_W.soon': walltime '$(W)' is 'soon': not a walltime");
  });

  it('what is left out for its own problem is not reported again where it is used', () => {
    const problems = everyProblem(
      [
        'description: {name: p, description: d}',
        'env:',
        '  variables: {EMPTY: "", BLANK: " "}',
        '  dependencies:',
        '    paths: [{name: DATA}]',
        'study:',
        '  - {name: 7, description: d, run: {cmd: echo}}',
        '  - name: s',
        '    description: d',
        '    run: {cmd: "ls $(DATA) $(7.workspace)", walltime: $(EMPTY), procs: $(BLANK), nodes: $(P), depends: ["7"]}',
        'global.parameters:',
        '  P: {values: 3, label: P.%%}',
      ].join('\n'),
    );
    expect(brief(problems)).toEqual([
      `3:22 env.variables.EMPTY ${SpecErrorCode.InvalidValue}`,
      `3:33 env.variables.BLANK ${SpecErrorCode.EmptyVariable}`,
      `5:13 env.dependencies.paths[0].path ${SpecErrorCode.MissingKey}`,
      `7:12 study[0].name ${SpecErrorCode.WrongType}`,
      `12:15 global.parameters.P.values ${SpecErrorCode.WrongType}`,
    ]);
  });

  it('a study with no steps is reported once, with the other problems', () => {
    const problems = readStudy('description: {name: p}\nstudy: ~\n', { file: 'f.yaml' }).errors;
    expect(brief(problems)).toEqual([
      `1:1 description.description ${SpecErrorCode.MissingKey}`,
      `2:1 study ${SpecErrorCode.NoSteps}`,
    ]);
  });

  it('parts left out never make a later check crash: it succeeds or throws a SpecError', () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }));
    const step = fc.record(
      {
        name: fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.integer(), fc.constant('')),
        description: fc.oneof(fc.constant('d'), fc.integer()),
        run: fc.oneof(
          fc.record(
            {
              cmd: fc.oneof(fc.constantFrom('echo $(P)', 'ls $(a.workspace) $(V)', 'x'), fc.integer()),
              depends: fc.oneof(fc.array(fc.constantFrom('a', 'b', 'c', 'a_*', 'zz', ''), { maxLength: 3 }), field),
              walltime: fc.oneof(fc.constantFrom('$(P)', '$(V)', '1:00', 'soon'), field),
              procs: fc.oneof(fc.constantFrom('$(P)', '$(V)', 2), field),
              bogus: field,
            },
            { requiredKeys: [] },
          ),
          field,
        ),
      },
      { requiredKeys: [] },
    );
    const spec = fc.record(
      {
        description: fc.oneof(fc.constant({ name: 'n', description: 'd' }), field),
        env: fc.oneof(fc.record({ variables: fc.oneof(fc.constant({ V: '$(P)' }), field) }), field),
        study: fc.oneof(fc.array(fc.oneof(step, field), { maxLength: 4 }), field),
        'global.parameters': fc.oneof(
          fc.constant({ P: { values: [1, 'x'], label: 'P.%%' } }),
          fc.constant({ P: { values: [1], label: 'P.%%' }, Q: { values: [1, 2], label: 'Q.%%' } }),
          field,
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(spec, (v) => {
        const problems = everyProblem(stringify(v));
        for (const p of problems) expect(p.code).toMatch(/^SPEC_/);
      }),
      { numRuns: 300 },
    );
  });
});
