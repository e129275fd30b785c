/**
 * YAML anchors and aliases (issue #26 item 5): loading is linear in the document, however many
 * aliases it has (each used to walk the whole document again: 10,000 aliases took ~20 s), and
 * an alias means what PyYAML makes of it. No timing is asserted: a quadratic load of 100,000
 * aliases would take about half an hour and blow the test's timeout instead.
 */
import { describe, expect, it } from 'vitest';
import { expandStudy, loadYaml, parseStudy } from '@maestro/spec';

/** A spec whose one parameter has `n` values, every one an alias of the same anchor. */
function aliasedSpec(n: number): string {
  return [
    'description: {name: aliases, description: one anchor used many times}',
    'env:',
    '  variables:',
    '    V: &v 1',
    'study:',
    '  - {name: s, description: d, run: {cmd: "echo $(X)"}}',
    'global.parameters:',
    `  X: {values: [${Array.from({ length: n }, () => '*v').join(', ')}], label: X.%%}`,
  ].join('\n');
}

describe('aliases', () => {
  it('loads a spec with 100,000 aliases, each the value of its anchor', () => {
    const { study } = parseStudy(aliasedSpec(100_000), { file: 'aliases.yaml' });
    expect(study.parameters?.length).toBe(100_000);
    expect(study.parameters?.value('X', 99_999)).toBe('1');
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c' });
    expect(x.instanceCount).toBe(1); // every row has the label X.1
  }, 30_000);

  it('refer to the last anchor of their name written before them', () => {
    const loaded = loadYaml('a: &x 1\nb: *x\nc: &x 2\nd: *x\ne: [&y {k: *x}, *y]\n');
    expect(loaded.value).toEqual({ a: 1, b: 1, c: 2, d: 2, e: [{ k: 2 }, { k: 2 }] });
  });

  it('refuses an alias written before its anchor, at its place', () => {
    expect(() => loadYaml('a: *x\nb: &x 1\n', 'f.yaml')).toThrow(/unknown alias \*x/);
  });

  it('still refuses an alias inside the node it names (it would never end)', () => {
    expect(() => loadYaml('a: &a [1, *a]\n', 'f.yaml')).toThrow(/its aliases expand it to more than/);
  });

  it('locates a problem inside an aliased block where the anchor is written', () => {
    const text = [
      'user: &run {cmd: echo, procs: zero}',
      'description: {name: n, description: d}',
      'study:',
      '  - {name: s, description: d, run: *run}',
    ].join('\n');
    expect(() => parseStudy(text, { file: 'f.yaml' })).toThrow(
      /^f\.yaml:1:31: study\[0\]\.run\.procs: got the text 'zero'; an integer of at least 1, or a \$\(NAME\) token$/,
    );
  });
});
