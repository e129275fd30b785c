/**
 * Walltimes, counts and `exclusive` read from the spec: a value written out is checked when the
 * spec is parsed, one made of `$(NAME)` tokens once per instance when it is expanded; every bad
 * one is reported at once, located, naming the instance, the key and the value.
 */
import { describe, expect, it } from 'vitest';
import {
  expandStudy,
  isWalltime,
  parseStudy,
  readCount,
  readFlag,
  resolveDependencies,
  SpecError,
  SpecErrorCode,
  type ExpandedStudy,
  type SpecProblem,
} from '@maestro/spec';

const header = 'description: {name: t, description: test}\n';

function expand(yaml: string): ExpandedStudy {
  const { study } = parseStudy(yaml, { file: 'test.yaml' });
  return expandStudy(study, { root: '/out/study', specRoot: '/specs', cwd: '/home/u' });
}

function problemsOf(yaml: string): readonly SpecProblem[] {
  try {
    expand(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as SpecError).problems;
  }
  throw new Error('the spec was accepted');
}

const ALLOWED_WALLTIME = /^allowed: HH:MM:SS \(01:30:00\), M:S, minutes \(90\), D-H, D-H:M, D-H:M:S, or 0, inf/;

describe('walltime written out', () => {
  it('is refused by parseStudy when it cannot be read, at its place in the file', () => {
    const problems = problemsOf(`${header}study:
  - name: s
    description: d
    run:
      cmd: echo hi
      walltime: ten minutes
`);
    expect(problems).toEqual([
      {
        code: SpecErrorCode.InvalidValue,
        file: 'test.yaml',
        line: 7,
        col: 17,
        path: 'study[0].run.walltime',
        message: "'ten minutes' is not a walltime",
        allowed: expect.stringMatching(ALLOWED_WALLTIME),
      },
    ]);
  });

  it('accepts every form of Slurm --time, minutes as a number, and no limit', () => {
    for (const w of [
      '"01:30:00"',
      '"90"',
      '90',
      '0',
      '"2:30"',
      '"1-00:00:00"',
      '"1-12"',
      '"1-2:30"',
      'inf',
      'UNLIMITED',
    ]) {
      expect(
        () => expand(`${header}study:\n  - {name: s, description: d, run: {cmd: x, walltime: ${w}}}\n`),
        w,
      ).not.toThrow();
    }
  });

  it("is refused in the batch block too (the allocations' default walltime)", () => {
    const problems = problemsOf(`${header}batch:
  type: slurm
  walltime: 1 hour
study:
  - {name: s, description: d, run: {cmd: x, walltime: "00:10:00"}}
`);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'batch.walltime',
        line: 4,
        col: 13,
        message: "'1 hour' is not a walltime",
        allowed: expect.stringMatching(ALLOWED_WALLTIME),
      }),
    ]);
  });

  it('reports one per step, all at once', () => {
    const problems = problemsOf(`${header}study:
  - {name: a, description: d, run: {cmd: x, walltime: soon}}
  - {name: b, description: d, run: {cmd: x, walltime: "1:2:3:4"}}
`);
    expect(problems.map((p) => [p.path, p.message])).toEqual([
      ['study[0].run.walltime', "'soon' is not a walltime"],
      ['study[1].run.walltime', "'1:2:3:4' is not a walltime"],
    ]);
  });
});

describe('values made of $(NAME) tokens', () => {
  it('names every instance whose walltime cannot be read, and only those', () => {
    const problems = problemsOf(`${header}study:
  - name: sim
    description: d
    run: {cmd: "echo $(W)", walltime: $(W)}
global.parameters:
  W: {values: ["00:10:00", ten minutes, "5", later], label: W.%%}
`);
    expect(problems).toEqual([
      {
        code: SpecErrorCode.InvalidValue,
        file: 'test.yaml',
        line: 5,
        col: 39,
        path: 'study[0].run.walltime',
        message: "instance 'sim_W.ten minutes': walltime '$(W)' is 'ten minutes': not a walltime",
        allowed: expect.stringMatching(ALLOWED_WALLTIME),
      },
      expect.objectContaining({ message: "instance 'sim_W.later': walltime '$(W)' is 'later': not a walltime" }),
    ]);
  });

  it('refuses a count that is not a whole number, naming the instance, the key and the value', () => {
    const problems = problemsOf(`${header}study:
  - name: sim
    description: d
    run: {cmd: "echo $(P)", procs: $(P), nodes: $(P), gpus: $(G), cores per task: $(P)}
global.parameters:
  P: {values: [2, two, 0], label: P.%%}
  G: {values: [0, 1, "1.5"], label: G.%%}
`);
    expect(problems.map((p) => `${p.path}: ${p.message}; ${p.allowed}`)).toEqual([
      "study[0].run.procs: instance 'sim_G.1.P.two': procs '$(P)' is 'two': not a whole number; allowed: a whole number of at least 1",
      "study[0].run.procs: instance 'sim_G.1.5.P.0': procs '$(P)' is '0': less than 1; allowed: a whole number of at least 1",
      "study[0].run.nodes: instance 'sim_G.1.P.two': nodes '$(P)' is 'two': not a whole number; allowed: a whole number of at least 1",
      "study[0].run.nodes: instance 'sim_G.1.5.P.0': nodes '$(P)' is '0': less than 1; allowed: a whole number of at least 1",
      "study[0].run.gpus: instance 'sim_G.1.5.P.0': gpus '$(G)' is '1.5': not a whole number; allowed: a whole number of at least 0",
      "study[0].run.cores per task: instance 'sim_G.1.P.two': cores per task '$(P)' is 'two': not a whole number; allowed: a whole number of at least 1",
      "study[0].run.cores per task: instance 'sim_G.1.5.P.0': cores per task '$(P)' is '0': less than 1; allowed: a whole number of at least 1",
    ]);
  });

  it('checks a value from an env variable once for the step', () => {
    const problems = problemsOf(`${header}env: {variables: {N: two, W: ten minutes}}
study:
  - {name: one, description: d, run: {cmd: x, procs: $(N), walltime: $(W)}}
  - {name: many, description: d, run: {cmd: "echo $(P)", gpus: $(N)}}
global.parameters:
  P: {values: [1, 2], label: P.%%}
`);
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "study[0].run.procs: step 'one': procs '$(N)' is 'two': not a whole number",
      "study[0].run.walltime: step 'one': walltime '$(W)' is 'ten minutes': not a walltime",
      "study[1].run.gpus: every instance of step 'many': gpus '$(N)' is 'two': not a whole number",
    ]);
  });

  it('refuses a token that nothing replaces', () => {
    const problems = problemsOf(`${header}study:
  - {name: s, description: d, run: {cmd: x, nodes: $(NODES), exclusive: $(X), walltime: $(WORKSPACE)}}
`);
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "study[0].run.nodes: step 's': nodes '$(NODES)': $(NODES) names no variable, label, dependency or parameter",
      "study[0].run.exclusive: step 's': exclusive '$(X)': $(X) names no variable, label, dependency or parameter",
      "study[0].run.walltime: step 's': walltime '$(WORKSPACE)': $(WORKSPACE) has no value before the step runs",
    ]);
  });

  it('lists ten bad instances per key, then how many more', () => {
    const values = Array.from({ length: 25 }, (_, k) => `x${k}`);
    const problems = problemsOf(`${header}study:
  - {name: s, description: d, run: {cmd: "echo $(P)", procs: $(P)}}
global.parameters:
  P: {values: [${values.join(', ')}], label: P.%%}
`);
    expect(problems).toHaveLength(11);
    expect(problems[9]!.message).toBe("instance 's_P.x9': procs '$(P)' is 'x9': not a whole number");
    expect(problems[10]!.message).toBe("... and 15 more instances of step 's' whose procs cannot be read");
  });

  it('accepts good values and passes them on as text', () => {
    const x = expand(`${header}study:
  - {name: s, description: d, run: {cmd: "echo $(P)", procs: $(P), walltime: $(W), exclusive: $(X)}}
global.parameters:
  P: {values: [1, 8], label: P.%%}
  W: {values: ["00:01:00", 90], label: W.%%}
  X: {values: [True, no], label: X.%%}
`);
    expect([0, 1].map((i) => x.instance(i).run)).toMatchObject([
      { procs: '1', walltime: '00:01:00', exclusive: 'True' },
      { procs: '8', walltime: '90', exclusive: 'False' },
    ]);
  });
});

describe('readers of substituted text', () => {
  it('readCount: whole numbers only', () => {
    expect(['4', ' 4 ', '04', 4, '0'].map(readCount)).toEqual([4, 4, 4, 4, 0]);
    expect(['two', '4.0', '-1', '', '1e3', 4.5, '99999999999999999999', null].map(readCount)).toEqual(
      Array(8).fill(undefined),
    );
  });

  it("readFlag: Python's truthiness of the value the text was made from", () => {
    // str() of YAML values: False, 0, 0.0, None, '', [], {} are falsy in Python; the rest is true.
    for (const falsy of ['False', '0', '0.0', '-0.0', 'None', '', '[]', '{}', false, 0])
      expect(readFlag(falsy)).toBe(false);
    for (const truthy of ['True', '1', 'yes', 'false', 'no', '[0]', true, 1]) expect(readFlag(truthy)).toBe(true);
    expect(readFlag(undefined)).toBeUndefined();
  });

  it('isWalltime: the forms of Slurm --time', () => {
    expect(
      ['1', '1:00', '01:00:00', '1-0', '1-0:0', '1-0:0:0', '1.5', 'inf', 'Unlimited', '', 0, 90].every(isWalltime),
    ).toBe(true);
    expect(['ten', '1h', '1:2:3:4', '-1', '1-', ':30', -1, Number.NaN].some(isWalltime)).toBe(false);
  });
});

describe('resolveDependencies', () => {
  it('gives each path and git dependency with its tokens replaced, and where it is written', () => {
    const { study } = parseStudy(`${header}env:
  variables: {HOST: example.org}
  dependencies:
    paths: [{name: DATA, path: ./data}]
    git:
      - {name: A, path: $(OUTPUT_PATH)/src, url: "https://$(HOST)/a.git", tag: v1}
      - {name: B, path: $(DATA), url: ../b, branch: dev}
      - {name: C, path: /abs, url: c, hash: abc123}
      - {name: D, path: rel, url: d, tag: ""}
study:
  - {name: s, description: d, run: {cmd: x}}
`);
    const deps = resolveDependencies(study, { root: '/out/study', specRoot: '/specs', cwd: '/home/u' });
    expect(deps.paths).toEqual([
      { name: 'DATA', path: '/home/u/data', at: ['env', 'dependencies', 'paths', 0, 'path'] },
    ]);
    expect(deps.git.map(({ at: _at, ...d }) => d)).toEqual([
      { name: 'A', url: 'https://example.org/a.git', dest: '/out/study/src/A', ref: { kind: 'tag', name: 'v1' } },
      { name: 'B', url: '../b', dest: '/home/u/data/B', ref: { kind: 'branch', name: 'dev' } },
      { name: 'C', url: 'c', dest: '/abs/C', ref: { kind: 'hash', name: 'abc123' } },
      { name: 'D', url: 'd', dest: '/home/u/rel/D', ref: undefined },
    ]);
  });
});
