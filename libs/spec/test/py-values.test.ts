/** Values read as Maestro's PyYAML FullLoader reads them, printed as Python's str() prints them. */
import { describe, expect, it } from 'vitest';
import { loadYaml, parseStudy, pyStr, type PyValue } from '@maestro/spec';

const strOf = (yamlScalar: string): string =>
  pyStr((loadYaml(`v: ${yamlScalar}`).value as Record<string, PyValue>)['v']);

describe('YAML 1.1 scalars, as PyYAML resolves them, then str()', () => {
  it.each([
    ['23.00', '23.0'],
    ['1.', '1.0'],
    ['.5', '0.5'],
    ['1.5e+3', '1500.0'],
    ['1e3', '1e3'], // PyYAML's float needs a dot: this stays text
    ['1.0e+20', '1e+20'],
    ['0.0001', '0.0001'],
    ['0.00001', '1e-05'],
    ['123456789012345678.0', '1.2345678901234568e+17'],
    ['-0.0', '-0.0'],
    ['.inf', 'inf'],
    ['-.Inf', '-inf'],
    ['.NaN', 'nan'],
    ['yes', 'True'],
    ['No', 'False'],
    ['on', 'True'],
    ['OFF', 'False'],
    ['y', 'y'], // not a bool in PyYAML
    ['~', 'None'],
    ['null', 'None'],
    ['0777', '511'],
    ['0x1F', '31'],
    ['0b101', '5'],
    ['1_000', '1000'],
    ['1:30', '90'],
    ['190:20:30', '685230'],
    ['09', '09'], // not octal, not decimal: text
    ['12345678901234567890', '12345678901234567890'],
    ['2001-12-14', '2001-12-14'],
    ['2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.100000-05:00'],
    ['"yes"', 'yes'],
    ["'23.00'", '23.00'],
    ['[1, 2.0, yes, abc]', "[1, 2.0, True, 'abc']"],
    ['{a: 1}', "{'a': 1}"],
  ])('%s -> %s', (scalar, expected) => {
    expect(strOf(scalar)).toBe(expected);
  });

  it('keeps the last of duplicate keys, like PyYAML, and warns', () => {
    const loaded = loadYaml('a: 1\na: 2\n', 'f.yaml');
    expect(loaded.value).toEqual({ a: 2 });
    expect(loaded.warnings[0]).toMatchObject({ line: 2, col: 1, message: expect.stringMatching(/written twice/) });
  });

  it('applies YAML merge keys (<<) as PyYAML does: explicit keys win, earlier sources first', () => {
    const loaded = loadYaml('base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\n');
    expect((loaded.value as Record<string, PyValue>)['m']).toEqual({ x: 9, y: 2, z: 4 });
  });

  it('lets a later << key win over an earlier one, in the key order PyYAML gives', () => {
    // PyYAML 6 (FullLoader) gives m = {x: 2, y: 1, w: 3, z: 2, k: 0}, n = {x: 3, z: 2, y: 1, w: 3}.
    const loaded = loadYaml(
      [
        'a: &a {x: 1, y: 1}',
        'b: &b {x: 2, z: 2}',
        'c: &c {x: 3, w: 3}',
        'm:\n  <<: *a\n  <<: [*b, *c]\n  k: 0',
        'n:\n  <<: [*a, *b]\n  <<: *c',
        'o:\n  <<: {p: 1, <<: *a}',
      ].join('\n'),
    );
    const v = loaded.value as Record<string, Record<string, PyValue>>;
    expect(Object.entries(v['m']!)).toEqual([
      ['x', 2],
      ['y', 1],
      ['w', 3],
      ['z', 2],
      ['k', 0],
    ]);
    expect(Object.entries(v['n']!)).toEqual([
      ['x', 3],
      ['z', 2],
      ['y', 1],
      ['w', 3],
    ]);
    expect(v['o']).toEqual({ x: 1, y: 1, p: 1 });
  });

  it('refuses a << list holding anything but mappings, as PyYAML does', () => {
    expect(() => loadYaml('a: &a {x: 1}\nl: &l [{y: 2}]\nm:\n  <<: [*a, *l]\n', 'm.yaml')).toThrow(
      /a merge key \(<<\) must refer to a mapping or a list of mappings/,
    );
  });

  it('locates a bad value that a later << key brought in where it is written', () => {
    const text = [
      'description: {name: m, description: d}',
      'user:',
      '  small: &small {procs: 1}',
      '  bad: &bad {procs: many}',
      'study:',
      '  - name: s',
      '    description: d',
      '    run:',
      '      <<: *small',
      '      <<: *bad',
      '      cmd: echo',
      '',
    ].join('\n');
    expect(() => parseStudy(text, { file: 'm.yaml' })).toThrow(
      /^m\.yaml:4:21: study\[0\]\.run\.procs: got the text 'many'; an integer of at least 1/,
    );
  });

  it('does not let a __proto__ key change object prototypes', () => {
    const loaded = loadYaml('__proto__: {polluted: 1}\n');
    expect(Object.getPrototypeOf(loaded.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.keys(loaded.value as object)).toEqual(['__proto__']);
  });

  it('refuses a billion-laughs bomb quickly instead of expanding it', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expect(() => loadYaml(levels.join('\n'), 'bomb.yaml')).toThrow(
      /aliases expand it to more than 1,0\d\d,\d{3} nodes/,
    );
  });
});
