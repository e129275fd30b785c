// Parameter generators (--pgen/--pargs), run for real: python3, shell scripts, module imports.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PyFloat, type ParameterDef } from '@maestro/spec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPgenError, parsePargs, PgenError, runParameterGenerator, type PgenContext } from '../src/pgen/index.js';
import { JsonSyntaxError, parsePyJson } from '../src/pgen/py-json.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/pgen/', import.meta.url)).replace(/\/$/, '');
const fixture = (name: string): string => join(FIXTURES, name);
const DRIVER = fileURLToPath(new URL('./helpers/run-pgen-dist.mjs', import.meta.url));
const TSC = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
const CONDUCTOR_TSCONFIG = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
const execFileAsync = promisify(execFile);

let work: string;
let ctx: PgenContext;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgen-test-'));
  ctx = {
    outputPath: join(work, 'study_20260101-000000'),
    specRoot: FIXTURES,
    cwd: work,
    env: { SMIN: '10', SMAX: '20', TRIALS: '3', ITER: '5,10', OUT_FORMAT: 'hdf5', RES_LIST: '16,32' },
  };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs a generator that must fail; returns its PgenError. */
async function failure(file: string, pargs: Record<string, string> = {}, context?: PgenContext): Promise<PgenError> {
  const err: unknown = await runParameterGenerator(file, pargs, context ?? ctx).then(
    (defs) => new Error(`expected a PgenError, got ${JSON.stringify(defs)}`),
    (e: unknown) => e,
  );
  if (!isPgenError(err)) throw err;
  return err;
}

interface DistOutcome {
  defs?: ParameterDef[];
  error?: { name: string; code: string; file?: string; message: string; cause?: string };
}

/** runParameterGenerator from dist/, in a child Node process (see helpers/run-pgen-dist.mjs). */
async function inNode(file: string, pargs: Record<string, string> = {}, context?: PgenContext): Promise<DistOutcome> {
  const request = JSON.stringify({ file, pargs, ctx: context ?? ctx });
  const { stdout } = await execFileAsync(process.execPath, [DRIVER, request]);
  return JSON.parse(stdout) as DistOutcome;
}

describe('parsePargs', () => {
  it('splits at the first colon and trims like Maestro', () => {
    expect(parsePargs(['TRIALS:4', ' URL : http://host:8080/x ', 'EMPTY:', 'TRIALS:5'])).toEqual({
      TRIALS: '5',
      URL: 'http://host:8080/x',
      EMPTY: '',
    });
    expect(parsePargs([])).toEqual({});
  });

  it('keeps __proto__ as a plain key', () => {
    const pargs = parsePargs(['__proto__:x']);
    expect(Object.keys(pargs)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(pargs)).toBe(Object.prototype);
  });

  it('rejects an item without a colon or with an empty key', () => {
    expect(() => parsePargs(['TRIALS:4', 'SEED'])).toThrow(PgenError);
    expect(() => parsePargs(['SEED'])).toThrow(
      '--pargs "SEED" has no ":"; expected KEY:VALUE (split at the first ":"), e.g. --pargs TRIALS:10',
    );
    try {
      parsePargs([':4']);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PgenError);
      expect((err as PgenError).code).toBe('PGEN_BAD_PARGS');
      expect((err as PgenError).message).toBe(
        '--pargs ":4" has an empty key; expected KEY:VALUE (split at the first ":"), e.g. --pargs TRIALS:10',
      );
    }
  });
});

describe('parsePyJson (how executable output is read)', () => {
  it('keeps JSON floats apart from ints, as json.loads does', () => {
    expect(parsePyJson('[2.0, 2, -0.5e3, 1E2, 100000000000000000000, -9007199254740993]')).toEqual([
      new PyFloat(2),
      2,
      new PyFloat(-500),
      new PyFloat(100),
      100000000000000000000n,
      -9007199254740993n,
    ]);
    expect(parsePyJson('[NaN, Infinity, -Infinity]')).toEqual([
      new PyFloat(NaN),
      new PyFloat(Infinity),
      new PyFloat(-Infinity),
    ]);
  });

  it('reads strings, literals and nesting like JSON.parse', () => {
    const text = ' {"a": ["x\\"y\\u00e9\\n", true, false, null, {}], "__proto__": [], "b": {"c": []}} ';
    const parsed = parsePyJson(text);
    expect(parsed).toEqual(JSON.parse(text));
    expect(Object.keys(parsed as object)).toEqual(['a', '__proto__', 'b']);
  });

  it('says where the text stops being JSON', () => {
    expect(() => parsePyJson('{"a": [1, 2,]}')).toThrow(
      new JsonSyntaxError('unexpected character at line 1 column 13 (near "]}")'),
    );
    expect(() => parsePyJson('{"a": 1}\n{"b": 2}')).toThrow('unexpected text after the JSON value at line 2 column 1');
    expect(() => parsePyJson('[1, 2')).toThrow('expected "," or "]" at line 1 column 6');
    expect(() => parsePyJson('')).toThrow('unexpected end of text at line 1 column 1');
    expect(() => parsePyJson("{'a': 1}")).toThrow('expected a "key" at line 1 column 2');
    expect(() => parsePyJson('[01]')).toThrow('expected "," or "]" at line 1 column 3');
  });
});

describe('Python generators (original Maestro pgen files)', () => {
  it('runs a Monte Carlo pgen reading env.find() values, with a pargs override', async () => {
    const defs = await runParameterGenerator(fixture('lulesh_montecarlo_args.py'), { TRIALS: '3', SEED: '7' }, ctx);
    // Sizes come from random.Random(7).random(), which Python repeats across versions.
    expect(defs).toEqual([
      { key: 'TRIAL', values: ['1', '1', '2', '2', '3', '3'], label: 'TRIAL.%%', name: 'TRIAL' },
      { key: 'SIZE', values: ['13', '13', '11', '11', '17', '17'], label: 'SIZE.%%', name: 'SIZE' },
      { key: 'ITERATIONS', values: ['5', '10', '5', '10', '5', '10'], label: 'ITER.%%', name: 'ITERATIONS' },
    ]);
  });

  it('lets pargs replace env values (ITER crossed with 4 trials)', async () => {
    const defs = await runParameterGenerator(fixture('lulesh_montecarlo_args.py'), { TRIALS: '4', ITER: '100' }, ctx);
    expect(defs.map((d) => d.values.length)).toEqual([4, 4, 4]);
    expect(defs[0]?.values).toEqual(['1', '2', '3', '4']);
    expect(defs[2]?.values).toEqual(['100', '100', '100', '100']);
    for (const size of defs[1]?.values ?? []) expect(Number(size)).toBeGreaterThanOrEqual(10);
  });

  it('reads a CSV beside the spec through SPECROOT, in batches', async () => {
    const all = await runParameterGenerator(fixture('batched_parameters.py'), {}, ctx);
    expect(all).toEqual([
      { key: 'X1', values: ['1.0', '2.0', '3.0', '4.0'], label: 'x1.%%', name: 'X1' },
      { key: 'X2', values: ['0.5', '1.5', '2.5', '3.5'], label: 'x2.%%', name: 'X2' },
      { key: 'DENSITY', values: ['2.25', '3.0', '1e-07', '100.0'], label: 'density.%%', name: 'DENSITY' },
    ]);
    const second = await runParameterGenerator(fixture('batched_parameters.py'), { BATCH_SIZE: '3', BATCH: '1' }, ctx);
    expect(second.map((d) => d.values)).toEqual([['4.0'], ['3.5'], ['100.0']]);
  });

  it("turns values into text with Python's own str(), and keeps per-value labels and names", async () => {
    const defs = await runParameterGenerator(fixture('python_values.py'), {}, ctx);
    expect(defs).toEqual([
      {
        key: 'V',
        values: [
          '2.0',
          'True',
          '100000000000000000000',
          'None',
          '0.30000000000000004',
          '1e-07',
          '1e+16',
          'text',
          "[1, 'a']",
          "{'k': 2.5}",
        ],
        label: 'V.%%',
        name: 'V',
      },
      {
        key: 'L',
        values: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        label: ['row-0', 'row-1', 'row-2', 'row-3', 'row-4', 'row-5', 'row-6', 'row-7', 'row-8', 'row-9'],
        name: 'Row',
      },
      {
        key: 'T',
        values: ['0.0', '0.5', '1.0', '1.5', '2.0', '2.5', '3.0', '3.5', '4.0', '4.5'],
        label: 't=%%',
        name: 'T',
      },
      // Re-adding DUP replaced it, keeping its first position as a Python dict does.
      { key: 'DUP', values: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], label: 'dup%%', name: 'DUP' },
    ]);
  });

  it('passes pargs as text, OUTPUT_PATH as text and SPECROOT as a Variable; runs in ctx.cwd', async () => {
    const defs = await runParameterGenerator(fixture('echo_args.py'), { ALPHA: '0.5', MODE: 'fast' }, ctx);
    const col = (key: string) => defs.find((d) => d.key === key)?.values;
    expect(col('ARG')).toEqual(['ALPHA', 'MODE', 'OUTPUT_PATH', 'SPECROOT']);
    expect(col('VALUE')).toEqual(['0.5', 'fast', ctx.outputPath, FIXTURES]);
    expect(col('TYPE')).toEqual(['str', 'str', 'str', 'Variable']);
    expect(col('SPECROOT_PATH')).toEqual(Array(4).fill(`${FIXTURES}/x`));
    expect(col('ENV_LABEL')).toEqual(Array(4).fill('hdf5'));
    expect(col('ENV_SPECROOT')).toEqual(Array(4).fill(FIXTURES));
    expect(col('ENV_UNKNOWN')).toEqual(Array(4).fill('None'));
    expect(col('CWD')).toEqual(Array(4).fill(work));
    expect(col('ARGV')).toEqual(Array(4).fill(fixture('echo_args.py')));
  });

  it('resolves a relative file against ctx.cwd', async () => {
    const defs = await runParameterGenerator('lulesh_montecarlo_args.py', { TRIALS: '1' }, { ...ctx, cwd: FIXTURES });
    expect(defs.map((d) => d.key)).toEqual(['TRIAL', 'SIZE', 'ITERATIONS']);
  });

  it('passes unequal lengths on: the caller checks them with the spec (ParameterSet)', async () => {
    const defs = await runParameterGenerator(fixture('unequal_lengths.py'), {}, ctx);
    expect(defs.map((d) => [d.key, d.values])).toEqual([
      ['A', ['1', '2', '3']],
      ['B', ['1', '2']],
    ]);
  });

  it("reports the generator's exception with the last traceback lines", async () => {
    const err = await failure(fixture('raises.py'));
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.file).toBe(fixture('raises.py'));
    expect(err.message).toMatch(/^pgen .*raises\.py: get_custom_generator raised an exception:\n {2}Traceback/);
    expect(err.message).toContain(`  File "${fixture('raises.py')}", line 9, in _trials`);
    expect(err.message).toMatch(/\n {2}ValueError: TRIALS must be positive, got -1$/);
    // The generator's own stdout print is before the traceback, and the runner's frames are gone.
    expect(err.message).not.toContain('about to check TRIALS');
    expect(err.message).not.toContain('maestro_pgen_runner');
  });

  it('explains a None from env.find()', async () => {
    const err = await failure(fixture('missing_env.py'));
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.message).toContain("AttributeError: 'NoneType' object has no attribute 'value'");
    expect(err.message).toMatch(
      /note: env\.find\(\) returned None for NSAMPLES; the study defines: SMIN, SMAX, TRIALS, ITER, OUT_FORMAT, RES_LIST, OUTPUT_PATH, SPECROOT$/,
    );
  });

  it('reports a syntax error in the file', async () => {
    const err = await failure(fixture('syntax_error.py'));
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.message).toMatch(/^pgen .*syntax_error\.py: importing the file raised an exception:\n/);
    expect(err.message).toContain(`File "${fixture('syntax_error.py')}", line 4`);
    expect(err.message).toContain('SyntaxError:');
  });

  it('reports a file without get_custom_generator, naming what it defines', async () => {
    const err = await failure(fixture('no_function.py'));
    expect(err.code).toBe('PGEN_BAD_OUTPUT');
    expect(err.message).toBe(
      `pgen ${fixture('no_function.py')}: defines no get_custom_generator(env, **kwargs) function; it defines: get_generator`,
    );
  });

  it('reports a generator that returns None or a string of values', async () => {
    const none = await failure(fixture('returns_none.py'));
    expect(none.code).toBe('PGEN_BAD_OUTPUT');
    expect(none.message).toBe(
      `pgen ${fixture('returns_none.py')}: get_custom_generator returned None; it must return the ParameterGenerator it filled (is 'return p_gen' missing?)`,
    );
    const text = await failure(fixture('string_values.py'));
    expect(text.message).toBe(
      `pgen ${fixture('string_values.py')}: parameter 'X': values must be a list, not str 'abc'`,
    );
  });

  it('says to install python3 when it is not on PATH', async () => {
    const saved = process.env.PATH;
    process.env.PATH = work; // no python3 here
    try {
      const err = await failure(fixture('lulesh_montecarlo_args.py'));
      expect(err.code).toBe('PGEN_PYTHON_MISSING');
      expect(err.message).toBe(
        `pgen ${fixture('lulesh_montecarlo_args.py')}: python3 is not on PATH, and a .py parameter generator needs it; ` +
          'install Python 3.6 or newer (or load a module that provides python3), or rewrite the generator as a .js/.ts module',
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('JavaScript and TypeScript module generators (compiled dist/, in a Node process)', () => {
  beforeAll(async () => {
    await execFileAsync(process.execPath, [TSC, '-b', CONDUCTOR_TSCONFIG]);
  }, 120_000);

  it('calls a named getParameters export, converting values with pyStr', async () => {
    expect(await inNode(fixture('sweep.mjs'))).toEqual({
      defs: [
        { key: 'RES', values: ['16', '16', '32', '32'], label: 'res.%%', name: 'RES' },
        { key: 'DT', values: ['0.5', '0.25', '0.5', '0.25'], label: 'DT.%%', name: 'timestep' },
        {
          key: 'VERBOSE',
          values: ['True', 'True', 'True', 'True'],
          label: ['run0', 'run1', 'run2', 'run3'],
          name: 'VERBOSE',
        },
      ],
    });
    const fromPargs = await inNode(fixture('sweep.mjs'), { RES: '8' });
    expect(fromPargs.defs?.[0]?.values).toEqual(['8', '8']);
  });

  it('calls an async default export with env, pargs, outputPath and specRoot', async () => {
    expect(await inNode(fixture('default_async.js'), { A: '1' }, { ...ctx, env: { X: '1', Y: '2' } })).toEqual({
      defs: [
        { key: 'BIG', values: ['100000000000000000000', 'None'], label: 'BIG.%%', name: 'BIG' },
        { key: 'NESTED', values: ["[1, 'a']", "{'k': 'v'}"], label: 'NESTED.%%', name: 'NESTED' },
        { key: 'WHERE', values: [ctx.outputPath, FIXTURES], label: 'WHERE.%%', name: 'WHERE' },
        { key: 'SEEN', values: ['{"A":"1"}', 'X,Y'], label: 'SEEN.%%', name: 'SEEN' },
      ],
    });
  });

  it('loads CommonJS with get_custom_generator', async () => {
    expect(await inNode(fixture('commonjs.cjs'), { N: '2' })).toEqual({
      defs: [{ key: 'I', values: ['0', '1'], label: 'I.%%', name: 'I' }],
    });
  });

  it('loads TypeScript through tsx', async () => {
    expect(await inNode(fixture('sweep.ts'), { SIZES: '4,8,16' })).toEqual({
      defs: [
        {
          key: 'SOLVER',
          values: ['cg', 'cg', 'cg', 'gmres', 'gmres', 'gmres'],
          label: ['cg-4', 'cg-8', 'cg-16', 'gmres-4', 'gmres-8', 'gmres-16'],
          name: 'SOLVER',
        },
        { key: 'SIZE', values: ['4', '8', '16', '4', '8', '16'], label: 'n%%', name: 'SIZE' },
      ],
    });
  });

  it('finds the Python runner from dist/ too', async () => {
    const { defs } = await inNode(fixture('lulesh_montecarlo_args.py'), { TRIALS: '1', ITER: '7' });
    expect(defs?.map((d) => [d.key, d.values])).toEqual([
      ['TRIAL', ['1']],
      ['SIZE', ['20']],
      ['ITERATIONS', ['7']],
    ]);
  });

  it('reports what the generator threw, with its first stack frames', async () => {
    const { error } = await inNode(fixture('throws.mjs'));
    expect(error).toMatchObject({
      name: 'PgenError',
      code: 'PGEN_FAILED',
      file: fixture('throws.mjs'),
      cause: 'RangeError',
    });
    expect(error?.message).toMatch(
      /^pgen .*throws\.mjs: getParameters\(\) threw RangeError: N is required: --pargs N:4\n {2}at check \(file:\/\/.*throws\.mjs:2:/,
    );
  });

  it('lists every problem in a wrong shape', async () => {
    const { error } = await inNode(fixture('bad_shape.mjs'));
    expect(error?.code).toBe('PGEN_BAD_OUTPUT');
    expect(error?.message).toBe(
      [
        `pgen ${fixture('bad_shape.mjs')}: getParameters() returned unusable parameters:`,
        '  - A: unknown field lable; allowed: values, label, name',
        '  - B.values: expected a list, got the text "not a list"',
        '  - C: expected { values: [...], label?, name? }, got a list',
        '  - D.values[1]: is undefined (use null for Python None)',
        '  - E.name: expected text, got number 7',
      ].join('\n'),
    );
  });

  it('reports a module that exports no generator function', async () => {
    const { error } = await inNode(fixture('no_export.mjs'));
    expect(error?.code).toBe('PGEN_BAD_OUTPUT');
    expect(error?.message).toBe(
      `pgen ${fixture('no_export.mjs')}: exports no generator function; export a function named getParameters ` +
        '(or a default export, or get_custom_generator). It exports: helper, parameters',
    );
  });

  it('reports an export that is not a function', async () => {
    const { error } = await inNode(fixture('not_function.mjs'));
    expect(error?.code).toBe('PGEN_BAD_OUTPUT');
    expect(error?.message).toBe(
      `pgen ${fixture('not_function.mjs')}: exports getParameters, but it is an object, not a function; ` +
        'export the generator function itself',
    );
  });

  it('reports a module that does not load', async () => {
    const file = join(work, 'broken.mjs');
    await writeFile(file, 'export function getParameters( {\n');
    const { error } = await inNode(file);
    expect(error?.code).toBe('PGEN_FAILED');
    expect(error?.message).toMatch(/^pgen .*broken\.mjs: could not be loaded: SyntaxError: /);
  });

  it('reports a TypeScript module that does not compile', async () => {
    const file = join(work, 'broken.ts');
    await writeFile(file, 'export function getParameters(: number {\n');
    const { error } = await inNode(file);
    expect(error?.code).toBe('PGEN_FAILED');
    expect(error?.message).toBe(
      `pgen ${file}: could not be loaded: TransformError: Transform failed with 1 error:\n` +
        `${file}:1:30: ERROR: Expected identifier but found ":"`,
    );
  });
});

describe('executable generators', () => {
  it('passes pargs as KEY:VALUE arguments and the study in MAESTRO_* variables', async () => {
    const defs = await runParameterGenerator(fixture('sweep.sh'), { A: '1', B: 'x:y', C: '' }, ctx);
    expect(defs).toEqual([
      { key: 'ARGS', values: ['A:1', 'B:x:y', 'C:'], label: 'arg.%%', name: 'ARGS' },
      // JSON numbers are read as Python's json.loads would: 2.0 stays a float.
      { key: 'FLOATS', values: ['2.0', '1e-07', '100000000000000000000'], label: 'FLOATS.%%', name: 'f' },
      { key: 'PLACES', values: [ctx.outputPath, work, 'x'], label: 'PLACES.%%', name: 'PLACES' },
      {
        key: 'SEEN',
        values: [
          "{'A': '1', 'B': 'x:y', 'C': ''}",
          "{'SMIN': '10', 'SMAX': '20', 'TRIALS': '3', 'ITER': '5,10', 'OUT_FORMAT': 'hdf5', 'RES_LIST': '16,32'}",
          'True',
        ],
        label: 'SEEN.%%',
        name: 'SEEN',
      },
    ]);
  });

  it('runs an executable Python script without a .py suffix', async () => {
    const defs = await runParameterGenerator(fixture('gen-python'), { N: '3' }, ctx);
    expect(defs).toEqual([
      { key: 'X', values: ['0.0', '0.5', '1.0'], label: 'X.%%', name: 'X' },
      { key: 'ARGV', values: ['N:3'], label: 'ARGV.%%', name: 'ARGV' },
    ]);
  });

  it('reports a non-zero exit with the end of stderr', async () => {
    const err = await failure(fixture('fails.sh'));
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.message).toBe(
      `pgen ${fixture('fails.sh')}: exited with code 2; stderr ends with:\n` +
        '  reading the sample list\n  error: samples.txt: no such file',
    );
  });

  it('reports output that is not JSON, quoting it', async () => {
    const err = await failure(fixture('not_json.sh'));
    expect(err.code).toBe('PGEN_BAD_OUTPUT');
    expect(err.message).toBe(
      `pgen ${fixture('not_json.sh')}: printed invalid JSON on stdout (unexpected character at line 1 column 1 ` +
        '(near "Generating parameter")); diagnostics belong on stderr. It printed:\n' +
        '  Generating parameters...\n  {"A": {"values": [1]}}',
    );
  });

  it('reports an executable that prints nothing', async () => {
    const file = join(work, 'silent.sh');
    await writeFile(file, '#!/bin/sh\nexit 0\n');
    await chmod(file, 0o755);
    const err = await failure(file);
    expect(err.code).toBe('PGEN_BAD_OUTPUT');
    expect(err.message).toBe(
      `pgen ${file}: printed nothing on stdout; it must print JSON like {"KEY": {"values": [1, 2]}}`,
    );
  });

  it('names a missing #! interpreter', async () => {
    const err = await failure(fixture('missing_interpreter'));
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.message).toBe(
      `pgen ${fixture('missing_interpreter')}: could not start: its interpreter /no/such/interpreter (from the #! line) was not found`,
    );
  });
});

describe('choosing the kind of generator', () => {
  it('reports a missing file, showing where it looked', async () => {
    const err = await failure('nope.py');
    expect(err.code).toBe('PGEN_NOT_FOUND');
    expect(err.message).toBe(`pgen nope.py: no such file (looked for ${join(work, 'nope.py')})`);
  });

  it('reports a directory', async () => {
    const err = await failure(FIXTURES);
    expect(err.code).toBe('PGEN_NOT_FOUND');
    expect(err.message).toBe(`pgen ${FIXTURES}: is not a file`);
  });

  it('reports a file that is neither a known kind nor executable', async () => {
    const err = await failure(fixture('plain.json'));
    expect(err.code).toBe('PGEN_NOT_FOUND');
    expect(err.message).toBe(
      `pgen ${fixture('plain.json')}: is not a parameter generator: use a Python file (.py), a JavaScript or ` +
        `TypeScript module (.js, .mjs, .cjs, .ts, .mts, .cts), or an executable that prints JSON (chmod +x ${fixture('plain.json')})`,
    );
  });

  it('reports a working directory that does not exist', async () => {
    const err = await failure(fixture('lulesh_montecarlo_args.py'), {}, { ...ctx, cwd: join(work, 'gone') });
    expect(err.code).toBe('PGEN_FAILED');
    expect(err.message).toBe(
      `pgen ${fixture('lulesh_montecarlo_args.py')}: cannot run it in ${join(work, 'gone')}: no such directory`,
    );
  });
});

describe('a generator that never ends', () => {
  const write = async (name: string, text: string, mode = 0o644): Promise<string> => {
    const file = join(work, name);
    await writeFile(file, text);
    await chmod(file, mode);
    return file;
  };
  const quick = (): PgenContext => ({ ...ctx, timeoutMs: 300 });

  it('an executable is stopped at --pgen-timeout, with what to do', async () => {
    const file = await write('forever.sh', '#!/bin/sh\necho "still thinking" >&2\nexec sleep 600\n', 0o755);
    const err = await failure(file, {}, quick());
    expect(err.code).toBe('PGEN_TIMED_OUT');
    expect(err.message).toBe(
      `pgen ${file}: did not finish within 300ms, so it was stopped; if it needs longer, give --pgen-timeout (e.g. --pgen-timeout 1h); stderr ends with:\n  still thinking`,
    );
  });

  it('a Python generator is stopped the same way', async () => {
    const file = await write(
      'forever.py',
      'import time\ndef get_custom_generator(env, **kwargs):\n    time.sleep(600)\n',
    );
    const err = await failure(file, {}, quick());
    expect(err.code).toBe('PGEN_TIMED_OUT');
    expect(err.message).toContain('did not finish within 300ms, so python3 was stopped');
  });

  it('a module, which cannot be stopped, is given up on', async () => {
    const file = await write('forever.mjs', 'export function getParameters() { return new Promise(() => {}); }\n');
    const err = await failure(file, {}, quick());
    expect(err.code).toBe('PGEN_TIMED_OUT');
    expect(err.message).toContain('did not finish within 300ms, so maestro gave up on it');
  });
});
