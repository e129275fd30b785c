/**
 * Fuzzing the parser: whatever the input, parsing and expanding either succeeds or throws a
 * SpecError whose every problem has a code, a path and a message. Nothing else may escape.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, SpecError } from '@maestro/spec';
import { compatDir } from '../../../test/helpers/shared.js';

function parseOrSpecError(text: string): 'ok' | 'error' {
  try {
    const { study } = parseStudy(text, { file: 'fuzz.yaml' });
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', maxInstances: 10_000 });
    for (let i = 0; i < Math.min(x.instanceCount, 50); i++) x.instance(i);
    return 'ok';
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) {
      expect(p.code).toMatch(/^SPEC_/);
      expect(p.message.length).toBeGreaterThan(0);
    }
    return 'error';
  }
}

const scalar = fc.oneof(
  fc.string(),
  fc.constantFrom(
    'yes',
    'no',
    '~',
    '1:30',
    '0777',
    '.inf',
    '23.00',
    '$(X)',
    '$(X.label)',
    '$(s.workspace)',
    '..',
    '/',
    '%%',
    '*',
    's_*',
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const keys = fc.constantFrom(
  'description',
  'name',
  'env',
  'variables',
  'labels',
  'dependencies',
  'paths',
  'git',
  'batch',
  'type',
  'study',
  'run',
  'cmd',
  'depends',
  'restart',
  'procs',
  'nodes',
  'walltime',
  'global.parameters',
  'values',
  'label',
  'X',
  'SIZE',
  's',
  't',
  'merlin',
  'user',
  'priority',
  'cores per task',
  '__proto__',
  'constructor',
  'toString',
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(keys, tie('node'), { maxKeys: 5 }),
  ),
})).node;

/** Specs that are almost right: a valid skeleton, with a random piece wrong now and then. */
const rarely = <T, U>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ arbitrary: usual, weight: 9 }, { arbitrary: odd, weight: 1 });
const goodScalar = fc.oneof(fc.constantFrom('a', 'b c', 'yes', '23.00', '$(A)'), fc.integer({ min: 0, max: 99 }));
const nearlyValid = fc
  .nat({ max: 4 })
  .chain((rows) =>
    fc.record({
      steps: fc.array(
        fc.record({
          name: rarely(fc.constantFrom('s', 't', 'u', 's_post'), fc.string()),
          cmd: rarely(
            fc.constantFrom('echo $(X)', 'ls $(s.workspace)', 'echo $(X.label) $(WORKSPACE) $(Y)', 'x $(A)'),
            fc.string(),
          ),
          depends: fc.array(rarely(fc.constantFrom('s', 't', 's_*', 'u*'), fc.constantFrom('nope', 't')), {
            maxLength: 2,
          }),
          extra: rarely(fc.constant({}), fc.dictionary(keys, value, { maxKeys: 2 })),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      params: fc.dictionary(
        fc.constantFrom('X', 'Y', 'SIZE'),
        fc.record({
          values: rarely(
            fc.array(goodScalar, { minLength: rows + 1, maxLength: rows + 1 }),
            fc.array(scalar, { maxLength: 4 }),
          ),
          label: rarely(fc.constantFrom('%%', 'L.%%', 'X.%%.%%'), scalar),
        }),
      ),
      env: fc.dictionary(fc.constantFrom('A', 'B', 'X', 'OUTPUT_PATH'), rarely(goodScalar, scalar)),
    }),
  )
  .map(({ steps, params, env }) =>
    stringify({
      description: { name: 'fuzz', description: 'fuzzed' },
      env: { variables: env },
      study: steps.map((s) => ({
        name: s.name,
        description: 'd',
        run: { cmd: s.cmd, depends: s.depends, ...s.extra },
      })),
      'global.parameters': params,
    }),
  );

// Thousands of parses each: CPU-bound, and beside the e2e tests on a slow hour of this VM the
// 1,000 nearly valid specs took over the default 5 s.
describe('the parser never crashes', { timeout: 60_000 }, () => {
  it('on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => void parseOrSpecError(text)),
      { numRuns: 500 },
    );
  });

  it('on arbitrary YAML structures', () => {
    fc.assert(
      fc.property(value, (v) => void parseOrSpecError(stringify(v))),
      { numRuns: 500 },
    );
  });

  it('on nearly valid specs', () => {
    const outcomes = { ok: 0, error: 0 };
    fc.assert(
      fc.property(nearlyValid, (text) => void outcomes[parseOrSpecError(text)]++),
      { numRuns: 1000 },
    );
    // The generator must reach both outcomes, or it is not exercising expansion.
    expect(outcomes.ok).toBeGreaterThan(20);
    expect(outcomes.error).toBeGreaterThan(20);
  });

  it('on real sample specs with random bytes changed', () => {
    const sample = readFileSync(path.join(compatDir(), 'lulesh/lulesh_sample1_unix.yaml'), 'utf8');
    const edit = fc.record({ at: fc.nat(sample.length - 1), len: fc.nat(20), insert: fc.string({ maxLength: 10 }) });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = sample;
        for (const e of edits) text = text.slice(0, e.at) + e.insert + text.slice(e.at + e.len);
        void parseOrSpecError(text);
      }),
      { numRuns: 500 },
    );
  });
});
