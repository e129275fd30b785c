/**
 * Kind (a): a JavaScript or TypeScript module, imported into this process. Its generator
 * function is `getParameters` (or the default export, or `get_custom_generator`), called with a
 * {@link PgenModuleInput}; it returns, or resolves to, a {@link PgenModuleOutput}.
 */
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ParameterDef } from '@maestro/spec';
import type * as TsxApi from 'tsx/esm/api';
import { PGEN_TIMEOUT_MS, type PgenContext, type PgenModuleInput } from './context.js';
import { PgenError, PgenErrorCode, timedOutMessage } from './errors.js';
import { describe, toParameterDefs } from './generator-output.js';

export const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'] as const;
const TYPESCRIPT_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.cts'];
const FUNCTION_NAMES = ['getParameters', 'get_custom_generator'] as const;
const STACK_FRAMES = 6;

export async function runModuleGenerator(
  file: string,
  path: string,
  pargs: Readonly<Record<string, string>>,
  ctx: PgenContext,
): Promise<ParameterDef[]> {
  let namespace: unknown;
  try {
    namespace = await importModule(path);
  } catch (err) {
    throw new PgenError(PgenErrorCode.Failed, file, `could not be loaded: ${summarize(err, path)}`, { cause: err });
  }
  const found = findGenerator(namespace);
  if (!found) {
    const exported = isObject(namespace) ? Object.keys(namespace) : [];
    const notFunction = [...FUNCTION_NAMES, 'default'].find((name) => exported.includes(name));
    if (notFunction && isObject(namespace)) {
      throw new PgenError(
        PgenErrorCode.BadOutput,
        file,
        `exports ${notFunction === 'default' ? 'a default' : notFunction}, but it is ${describe(namespace[notFunction])}, ` +
          'not a function; export the generator function itself',
      );
    }
    throw new PgenError(
      PgenErrorCode.BadOutput,
      file,
      `exports no generator function; export a function named getParameters (or a default export, ` +
        `or get_custom_generator). It exports: ${exported.length > 0 ? exported.join(', ') : 'nothing'}`,
    );
  }
  // Copies: the generator may change what it gets without touching the caller's objects.
  const input: PgenModuleInput = {
    env: { ...ctx.env },
    pargs: { ...pargs },
    outputPath: ctx.outputPath,
    specRoot: ctx.specRoot,
  };
  let output: unknown;
  const timeoutMs = ctx.timeoutMs ?? PGEN_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  // A module runs in this process: nothing can stop it, but the command need not wait for it.
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PgenError(PgenErrorCode.TimedOut, file, timedOutMessage(timeoutMs, 'maestro gave up on it'))),
      timeoutMs,
    );
  });
  try {
    output = await Promise.race([found.fn(input), late]);
  } catch (err) {
    if (err instanceof PgenError) throw err;
    throw new PgenError(PgenErrorCode.Failed, file, `${found.name}() threw ${summarize(err, path)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const { defs, problems } = toParameterDefs(output);
  if (problems.length > 0) {
    throw new PgenError(
      PgenErrorCode.BadOutput,
      file,
      `${found.name}() returned unusable parameters:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return defs;
}

async function importModule(path: string): Promise<unknown> {
  const url = pathToFileURL(path).href;
  if (TYPESCRIPT_EXTENSIONS.includes(extname(path))) {
    // Node 20 cannot load TypeScript; tsx's scoped loader can, without affecting other imports.
    // Loaded on demand: most studies never need it.
    const { tsImport } = (await importEsm('tsx/esm/api')) as typeof TsxApi;
    return (await tsImport(url, import.meta.url)) as unknown;
  }
  return await importEsm(url);
}

/**
 * import(), or the bin's when it lends one: on Node 20 the bin runs the CommonJS bundle from
 * V8's code cache, and an import() in code read from that cache fails ("A dynamic import callback
 * was not specified": Node's loader is not kept with the cache). See bin/maestro.js.
 */
function importEsm(specifier: string): Promise<unknown> {
  const lent = (globalThis as { [key: symbol]: ((s: string) => Promise<unknown>) | undefined })[
    Symbol.for('maestro.import')
  ];
  return lent ? lent(specifier) : import(specifier);
}

type GeneratorFunction = (input: PgenModuleInput) => unknown;

function findGenerator(namespace: unknown): { fn: GeneratorFunction; name: string } | undefined {
  if (!isObject(namespace)) return undefined;
  const fromObject = (obj: Record<string, unknown>): { fn: GeneratorFunction; name: string } | undefined => {
    for (const name of FUNCTION_NAMES) {
      const fn = obj[name];
      if (typeof fn === 'function') return { fn: fn as GeneratorFunction, name };
    }
    return undefined;
  };
  const named = fromObject(namespace);
  if (named) return named;
  // A default export that is the function, or (CommonJS, transpiled TS) an object holding it.
  const def = namespace['default'];
  if (typeof def === 'function') return { fn: def as GeneratorFunction, name: def.name || 'default export' };
  if (!isObject(def)) return undefined;
  const nested =
    fromObject(def) ??
    (typeof def['default'] === 'function'
      ? { fn: def['default'] as GeneratorFunction, name: 'default export' }
      : undefined);
  return nested;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
}

/**
 * `TypeError: message` and the stack frames in the user's code: none from Node or packages,
 * and none after the generator's own file (those are ours, or our caller's).
 */
function summarize(err: unknown, path: string): string {
  if (!(err instanceof Error)) return describe(err);
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line) && !/\(node:|at node:|\/node_modules\//.test(line));
  const url = pathToFileURL(path).href;
  const lastOwn = frames.findLastIndex((line) => line.includes(url) || line.includes(path));
  const shown = (lastOwn >= 0 ? frames.slice(0, lastOwn + 1) : frames).slice(0, STACK_FRAMES);
  return [`${err.name}: ${err.message}`, ...shown.map((line) => `  ${line.trim()}`)].join('\n');
}
