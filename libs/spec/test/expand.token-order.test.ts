/**
 * Maestro's token order (issue #19 item 7): a step's labels are applied first, then its
 * dependencies, then its variables (StudyEnvironment.apply_environment, maestro-spec.md §1.2), so
 * a label may hold the token of a path or git dependency as well as a variable's.
 */
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, resolveDependencies, SpecErrorCode } from '@maestro/spec';

const places = { root: '/out/study', specRoot: '/specs', cwd: '/home/u' };
const header = 'description: {name: t, description: test}\n';

function cmdOf(yaml: string): string {
  const { study } = parseStudy(yaml, { file: 'test.yaml' });
  return expandStudy(study, places).instance(0).cmd;
}

describe('labels, dependencies and variables', () => {
  it('a label holding $(PATH_DEPENDENCY) gets its absolute path', () => {
    const cmd = cmdOf(`${header}env:
  variables: {MESH: coarse}
  labels: {MODEL: $(MODEL_DIR)/$(MESH).h5}
  dependencies:
    paths: [{name: MODEL_DIR, path: ./models}]
study:
  - {name: s, description: d, run: {cmd: "sim --model $(MODEL)"}}
`);
    expect(cmd).toBe('sim --model /home/u/models/coarse.h5');
  });

  it('a label holding $(GIT_DEPENDENCY) gets the clone folder, and a variable such a label', () => {
    const cmd = cmdOf(`${header}env:
  variables: {BUILD: $(SRC_BIN)/release}
  labels: {SRC_BIN: $(LULESH)/bin}
  dependencies:
    git: [{name: LULESH, path: $(OUTPUT_PATH), url: "https://example.invalid/lulesh.git"}]
study:
  - {name: s, description: d, run: {cmd: "$(SRC_BIN)/lulesh; ls $(BUILD)"}}
`);
    expect(cmd).toBe('/out/study/LULESH/bin/lulesh; ls /out/study/LULESH/bin/release');
  });

  it('a dependency path may use a variable, and the label using that dependency follows', () => {
    const yaml = `${header}env:
  variables: {DATA_ROOT: /data/shared}
  labels: {INPUT: $(INPUTS)/deck.in}
  dependencies:
    paths: [{name: INPUTS, path: $(DATA_ROOT)/inputs}]
study:
  - {name: s, description: d, run: {cmd: "cp $(INPUT) ."}}
`;
    expect(cmdOf(yaml)).toBe('cp /data/shared/inputs/deck.in .');
    const { study } = parseStudy(yaml, { file: 'test.yaml' });
    expect(resolveDependencies(study, places).paths.map((p) => p.path)).toEqual(['/data/shared/inputs']);
  });

  it('a label keeps parameter tokens for each instance after the dependency is substituted', () => {
    const { study } = parseStudy(
      `${header}env:
  labels: {RUN_DIR: $(RUNS)/$(SIZE.label)}
  dependencies:
    paths: [{name: RUNS, path: /scratch/runs}]
study:
  - {name: s, description: d, run: {cmd: "cd $(RUN_DIR)"}}
global.parameters:
  SIZE: {values: [10, 20], label: SIZE.%%}
`,
      { file: 'test.yaml' },
    );
    const x = expandStudy(study, places);
    expect([x.instance(0).cmd, x.instance(1).cmd]).toEqual(['cd /scratch/runs/SIZE.10', 'cd /scratch/runs/SIZE.20']);
  });

  it('refuses a variable and a dependency whose values refer to each other, naming the loop', () => {
    const text = `${header}env:
  labels: {WHERE: $(DATA)/x}
  dependencies:
    paths: [{name: DATA, path: $(WHERE)/data}]
study:
  - {name: s, description: d, run: {cmd: "ls $(DATA)"}}
`;
    expect(() => parseStudy(text, { file: 'f.yaml' })).toThrow(
      /^f\.yaml:3:19: env\.labels\.WHERE: variables and dependencies refer to each other in a loop: \$\(WHERE\) -> \$\(DATA\) -> \$\(WHERE\); break the loop$/,
    );
    try {
      parseStudy(text, { file: 'f.yaml' });
    } catch (err) {
      expect((err as { code?: string }).code).toBe(SpecErrorCode.VariableCycle);
    }
  });
});
