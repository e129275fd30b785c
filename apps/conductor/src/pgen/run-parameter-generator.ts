import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { ParameterDef } from '@maestro/spec';
import type { PgenContext } from './context.js';
import { PgenError, PgenErrorCode } from './errors.js';
import { runExecutableGenerator } from './exec-generator.js';
import { MODULE_EXTENSIONS, runModuleGenerator } from './module-generator.js';
import { runPythonGenerator } from './python-generator.js';

type GeneratorKind = 'module' | 'python' | 'executable';

/**
 * Runs a `--pgen` generator and returns the parameters it defines, which replace the spec's
 * `global.parameters`. Values are already text, as Python's str() prints them.
 *
 * The file picks the kind: a `.py` file is an original Maestro generator
 * (`get_custom_generator(env, **kwargs)`, run by python3); a `.js`/`.mjs`/`.cjs`/`.ts`/`.mts`/
 * `.cts` file is a module imported into this process; any other executable file is run and
 * prints JSON. `file` may be relative to `ctx.cwd`.
 *
 * Throws a {@link PgenError} whose message names `file` and what is wrong. Parameters of
 * different lengths are not checked here (ParameterSet reports them with the spec's problems).
 */
export async function runParameterGenerator(
  file: string,
  pargs: Readonly<Record<string, string>>,
  ctx: PgenContext,
): Promise<ParameterDef[]> {
  const path = resolve(ctx.cwd, file);
  const kind = await generatorKind(file, path);
  const cwd = await stat(ctx.cwd).catch(() => undefined);
  if (!cwd?.isDirectory()) {
    throw new PgenError(PgenErrorCode.Failed, file, `cannot run it in ${ctx.cwd}: no such directory`);
  }
  switch (kind) {
    case 'python':
      return runPythonGenerator(file, path, pargs, ctx);
    case 'module':
      return runModuleGenerator(file, path, pargs, ctx);
    case 'executable':
      return runExecutableGenerator(file, path, pargs, ctx);
    default: {
      const never: never = kind;
      return never;
    }
  }
}

async function generatorKind(file: string, path: string): Promise<GeneratorKind> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})`;
    throw new PgenError(PgenErrorCode.NotFound, file, `${why}${path === file ? '' : ` (looked for ${path})`}`, {
      cause: err,
    });
  }
  if (!info.isFile()) throw new PgenError(PgenErrorCode.NotFound, file, 'is not a file');
  const ext = extname(path);
  if (ext === '.py') return 'python';
  if ((MODULE_EXTENSIONS as readonly string[]).includes(ext)) return 'module';
  if (
    await access(path, constants.X_OK).then(
      () => true,
      () => false,
    )
  )
    return 'executable';
  throw new PgenError(
    PgenErrorCode.NotFound,
    file,
    `is not a parameter generator: use a Python file (.py), a JavaScript or TypeScript module ` +
      `(${MODULE_EXTENSIONS.join(', ')}), or an executable that prints JSON (chmod +x ${file})`,
  );
}
