/** Expansion semantics of the reference (maestro-spec.md §1.6 and §2), case by case. */
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, ParameterSet, type ExpandedStudy } from '@maestro/spec';

function expand(yaml: string, options: { hashWorkspaces?: boolean } = {}): ExpandedStudy {
  const { study } = parseStudy(yaml, { file: 'test.yaml' });
  return expandStudy(study, { root: '/out/study', specRoot: '/specs', cwd: '/home/u', ...options });
}

const header = 'description: {name: t, description: test}\n';

function byName(x: ExpandedStudy): Map<string, ReturnType<ExpandedStudy['instance']> & { depends: string[] }> {
  const m = new Map();
  for (let i = 0; i < x.instanceCount; i++) {
    m.set(x.instanceName(i), { ...x.instance(i), depends: x.parentsOf(i).map((p) => x.instanceName(p)) });
  }
  return m;
}

describe('substitution', () => {
  it('resolves variable chains of any depth (Maestro resolves one level only)', () => {
    const x = expand(`${header}env:
  variables: {A: alpha, B: $(A)/beta, C: $(B)/gamma}
study:
  - {name: s, description: d, run: {cmd: "echo $(C)"}}
`);
    expect(x.instance(0).cmd).toBe('echo alpha/beta/gamma');
  });

  it('substitutes OUTPUT_PATH, SPECROOT, WORKSPACE and dependencies', () => {
    const x = expand(`${header}env:
  variables: {OUTPUT_PATH: ./ignored-with-root}
  dependencies:
    paths: [{name: DATA, path: ./data}]
    git: [{name: REPO, path: $(OUTPUT_PATH)/src, url: "https://example.invalid/r.git"}]
study:
  - {name: s, description: d, run: {cmd: "$(OUTPUT_PATH) $(SPECROOT) $(WORKSPACE) $(DATA) $(REPO)"}}
`);
    expect(x.instance(0).cmd).toBe('/out/study /specs /out/study/s /home/u/data /out/study/src/REPO');
  });

  it('leaves tokens that are not ours verbatim, substituting ours inside them', () => {
    const x = expand(`${header}env: {variables: {V: v}}
study:
  - {name: s, description: d, run: {cmd: "echo $(date) $(pwd) $(cat $(WORKSPACE)/x) $(V) $(LAUNCHER) $(UNKNOWN)"}}
`);
    expect(x.instance(0).cmd).toBe('echo $(date) $(pwd) $(cat /out/study/s/x) v $(LAUNCHER) $(UNKNOWN)');
  });

  it('labels may hold parameter tokens, which make the step use those parameters', () => {
    const x = expand(`${header}env: {labels: {OUT: $(GREETING)_$(NAME).txt}}
study:
  - {name: hello, description: d, run: {cmd: "echo hi > $(OUT)"}}
global.parameters:
  NAME: {values: [Pam, Jim], label: NAME.%%}
  GREETING: {values: [Hello, Ciao], label: GREETING.%%}
`);
    expect([...byName(x).keys()]).toEqual(['hello_GREETING.Hello.NAME.Pam', 'hello_GREETING.Ciao.NAME.Jim']);
    expect(x.instance(0).cmd).toBe('echo hi > Hello_Pam.txt');
    expect(x.instance(0).params).toEqual({ GREETING: 'Hello', NAME: 'Pam' });
  });

  it('matches parameter keys exactly, not as prefixes (Maestro expands $(NAME) over N too)', () => {
    const x = expand(`${header}study:
  - {name: s, description: d, run: {cmd: "echo $(NAME)"}}
global.parameters:
  N: {values: [1, 2], label: N.%%}
  NAME: {values: [a, b], label: NAME.%%}
`);
    expect([...byName(x).keys()]).toEqual(['s_NAME.a', 's_NAME.b']);
  });

  it('a parameter token in a step description makes the step use that parameter, as in Maestro', () => {
    const x = expand(`${header}study:
  - {name: s, description: "size $(SIZE)", run: {cmd: "echo"}}
global.parameters:
  SIZE: {values: [1, 2], label: SIZE.%%}
`);
    expect([...byName(x).keys()]).toEqual(['s_SIZE.1', 's_SIZE.2']);
  });

  it('gives $(P.label) and $(P.name)', () => {
    const x = expand(`${header}study:
  - {name: s, description: d, run: {cmd: "$(SIZE) $(SIZE.label) $(SIZE.name)"}}
global.parameters:
  SIZE: {values: [10, 23.00, yes], label: S-%%}
`);
    expect([0, 1, 2].map((i) => x.instance(i).cmd)).toEqual(['10 S-10 SIZE', '23.0 S-23.0 SIZE', 'True S-True SIZE']);
  });
});

describe('expansion', () => {
  const sweep = `global.parameters:
  SIZE: {values: [10, 10, 20], label: SIZE.%%}
  ITER: {values: [1, 2, 1], label: ITER.%%}
`;
  it('inherits parameters through one-to-one depends and sorts labels by key', () => {
    const x = expand(`${header}study:
  - {name: sim, description: d, run: {cmd: "sim $(SIZE) $(ITER)"}}
  - {name: post, description: d, run: {cmd: "post", depends: [sim]}}
${sweep}`);
    const m = byName(x);
    expect([...m.keys()]).toEqual([
      'sim_ITER.1.SIZE.10',
      'sim_ITER.2.SIZE.10',
      'sim_ITER.1.SIZE.20',
      'post_ITER.1.SIZE.10',
      'post_ITER.2.SIZE.10',
      'post_ITER.1.SIZE.20',
    ]);
    expect(m.get('post_ITER.2.SIZE.10')!.depends).toEqual(['sim_ITER.2.SIZE.10']);
    expect(m.get('post_ITER.2.SIZE.10')!.workspace).toBe('post/ITER.2.SIZE.10');
  });

  it('takes steps in any order: parents are staged first, even when listed after their children', () => {
    // Maestro refuses this file: "Attempted to create edge (sim, post), but node sim does not exist."
    const x = expand(`${header}study:
  - {name: report, description: d, run: {cmd: "report", depends: [post_*]}}
  - {name: post, description: d, run: {cmd: "post $(sim.workspace)", depends: [sim]}}
  - {name: sim, description: d, run: {cmd: "sim $(SIZE)"}}
${sweep}`);
    expect(x.steps.map((s) => s.name)).toEqual(['sim', 'post', 'report']);
    const m = byName(x);
    expect([...m.keys()]).toEqual(['sim_SIZE.10', 'sim_SIZE.20', 'post_SIZE.10', 'post_SIZE.20', 'report']);
    expect(m.get('post_SIZE.20')).toMatchObject({ depends: ['sim_SIZE.20'], cmd: 'post /out/study/sim/SIZE.20' });
    expect(m.get('report')!.depends).toEqual(['post_SIZE.10', 'post_SIZE.20']);
  });

  it('collapses rows with the same labels, and links children to the projected parent', () => {
    const x = expand(`${header}study:
  - {name: build, description: d, run: {cmd: "make $(SIZE)"}}
  - {name: run, description: d, run: {cmd: "run $(ITER) in $(build.workspace)", depends: [build]}}
${sweep}`);
    const m = byName(x);
    expect([...m.keys()].filter((n) => n.startsWith('build'))).toEqual(['build_SIZE.10', 'build_SIZE.20']);
    expect(m.get('run_ITER.2.SIZE.10')!.depends).toEqual(['build_SIZE.10']);
    expect(m.get('run_ITER.2.SIZE.10')!.cmd).toBe('run 2 in /out/study/build/SIZE.10');
  });

  it('funnels wait for every instance and pass no parameters on; $(X.workspace) is the step folder', () => {
    const x = expand(`${header}study:
  - {name: sim, description: d, run: {cmd: "sim $(SIZE) $(ITER)"}}
  - {name: sim_post, description: d, run: {cmd: "each", depends: [sim]}}
  - {name: all, description: d, run: {cmd: "ls $(sim.workspace)", depends: [sim_*]}}
  - {name: all2, description: d, run: {cmd: "ls $(sim_post.workspace)", depends: ["sim_post*"]}}
  - {name: per-size, description: d, run: {cmd: "grep $(SIZE.label) $(sim.workspace)", depends: [sim_*]}}
${sweep}`);
    const m = byName(x);
    expect(m.get('all')!.depends).toEqual(['sim_ITER.1.SIZE.10', 'sim_ITER.2.SIZE.10', 'sim_ITER.1.SIZE.20']);
    expect(m.get('all')!.cmd).toBe('ls /out/study/sim');
    expect(m.get('all2')!.depends).toEqual([
      'sim_post_ITER.1.SIZE.10',
      'sim_post_ITER.2.SIZE.10',
      'sim_post_ITER.1.SIZE.20',
    ]);
    expect([...m.keys()].filter((n) => n.startsWith('per-size'))).toEqual(['per-size_SIZE.10', 'per-size_SIZE.20']);
    expect(m.get('per-size_SIZE.20')!.depends).toHaveLength(3);
    expect(m.get('per-size_SIZE.20')!.cmd).toBe('grep SIZE.20 /out/study/sim');
  });

  it('a $(X.workspace) reference alone makes the step inherit X parameters', () => {
    const x = expand(`${header}study:
  - {name: sim, description: d, run: {cmd: "sim $(SIZE)"}}
  - {name: peek, description: d, run: {cmd: "cat $(sim.workspace)/out", depends: [sim]}}
${sweep}`);
    expect(x.instance(x.instanceCount - 1).cmd).toBe('cat /out/study/sim/SIZE.20/out');
  });

  it('--hashws names parameterized workspaces by the md5 of their labels', () => {
    const x = expand(
      `${header}study:
  - {name: sim, description: d, run: {cmd: "cd $(WORKSPACE) $(P)"}}
global.parameters:
  P: {values: [1], label: P.%%}
`,
      { hashWorkspaces: true },
    );
    // md5("P.1"), as Python hashlib gives it
    expect(x.instance(0)).toMatchObject({
      name: 'sim_P.1',
      workspace: 'sim/58a2c61644cccdd09cc0a609dbb25873',
      fileName: '58a2c61644cccdd09cc0a609dbb25873',
      cmd: 'cd /out/study/sim/58a2c61644cccdd09cc0a609dbb25873 1',
    });
  });

  it('keeps spaces in instance names but not in folder names', () => {
    const x = expand(`${header}study:
  - {name: bye, description: d, run: {cmd: "echo $(FAREWELL)"}}
global.parameters:
  FAREWELL: {values: [So long], label: FAREWELL.%%}
`);
    expect(x.instance(0)).toMatchObject({ name: 'bye_FAREWELL.So long', workspace: 'bye/FAREWELL.So_long' });
  });

  it('takes generated parameters (pgen) in place of global.parameters, with label lists', () => {
    const { study } = parseStudy(`${header}study:\n  - {name: s, description: d, run: {cmd: "$(X) $(X.name)"}}\n`);
    const problems = { errors: [] as unknown[], warnings: [] } as never;
    const parameters = ParameterSet.from(
      [{ key: 'X', values: ['1', '2'], label: ['one', 'two'], name: 'ex' }],
      problems,
      (k) => [k],
    );
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', parameters });
    expect([0, 1].map((i) => [x.instanceName(i), x.instance(i).cmd])).toEqual([
      ['s_one', '1 ex'],
      ['s_two', '2 ex'],
    ]);
  });

  it('refuses more instances than allowed (10 million against the default limit)', { timeout: 60_000 }, () => {
    const { study } = parseStudy(`${header}study:\n  - {name: s, description: d, run: {cmd: "$(X)"}}\n`);
    const problems = { errors: [] as unknown[], warnings: [] } as never;
    const n = 10_000_000;
    const values = Array.from({ length: n }, (_, i) => String(i));
    const parameters = ParameterSet.from([{ key: 'X', values }], problems, (k) => [k])!;
    expect(() => expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', parameters })).toThrow(
      /more than 2,000,000 step instances.*--max-instances/,
    );
  });
});

describe('--workspace-fanout', () => {
  const sweep = (n: number) => `${header}study:
  - {name: sim, description: d, run: {cmd: "sim $(P)"}}
  - {name: post, description: d, run: {cmd: "cat $(sim.workspace)/out", depends: [sim]}}
  - {name: all, description: d, run: {cmd: "ls $(sim.workspace)", depends: [sim_*]}}
global.parameters:
  P: {values: [${Array.from({ length: n }, (_, k) => k).join(', ')}], label: P.%%}
`;
  function fanned(n: number, fanout: number): ExpandedStudy {
    const { study } = parseStudy(sweep(n));
    return expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', workspaceFanout: fanout });
  }

  it('keeps the flat layout when a step fits in one folder', () => {
    expect(fanned(10, 10).instance(3).workspace).toBe('sim/P.3');
  });

  it('nests workspaces so that no folder holds more than N entries, and $(X.workspace) follows', () => {
    const x = fanned(250, 10);
    const workspaces = Array.from({ length: 250 }, (_, k) => x.instance(k).workspace);
    expect(workspaces[0]).toBe('sim/0/0/P.0');
    expect(workspaces[249]).toBe('sim/2/4/P.249');
    const children = new Map<string, Set<string>>();
    for (const ws of workspaces) {
      const parts = ws.split('/');
      for (let d = 1; d < parts.length; d++) {
        const parent = parts.slice(0, d).join('/');
        if (!children.has(parent)) children.set(parent, new Set());
        children.get(parent)!.add(parts[d]!);
      }
    }
    for (const [, entries] of children) expect(entries.size).toBeLessThanOrEqual(10);
    expect(new Set(workspaces).size).toBe(250);
    const post = x.instance(250 + 123);
    expect(post.cmd).toBe(`cat /r/${x.instance(123).workspace}/out`);
    expect(x.instance(500).cmd).toBe('ls /r/sim');
  });
});
