/**
 * Reads a spec file and expands it: the file system side of @maestro/spec (reading, the
 * generator process, the clock), so the library stays pure.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  defaultStudyRoot,
  expandStudy,
  parametersFromGenerator,
  parseStudy,
  resolveEnvironment,
  SpecError,
  SpecErrorCode,
  type ExpandedStudy,
  type ParameterDef,
  type SpecProblem,
  type Study,
} from '@maestro/spec';

export interface LoadStudyOptions {
  /** The spec file as the user typed it. */
  readonly specPath: string;
  /** `-o DIR`: the study root, used verbatim (no timestamp). */
  readonly out?: string | undefined;
  /** `--pgen FILE`: a parameter generator replacing global.parameters. */
  readonly pgen?: string | undefined;
  /** `--pargs KEY:VALUE`, repeated. */
  readonly pargs?: readonly string[] | undefined;
  readonly hashWorkspaces?: boolean | undefined;
  readonly workspaceFanout?: number | undefined;
  readonly maxInstances?: number | undefined;
  /** Generated parameters saved earlier (resume): used instead of running the generator again. */
  readonly savedParameters?: readonly ParameterDef[] | undefined;
  readonly cwd: string;
  readonly now: Date;
  /** `$(SPECROOT)` when the spec was copied (resume reads the copy in the study root). */
  readonly specRoot?: string | undefined;
}

export interface LoadedStudy {
  readonly study: Study;
  readonly expanded: ExpandedStudy;
  readonly warnings: readonly SpecProblem[];
  /** Absolute path of the spec file. */
  readonly specFile: string;
  /** Parameters a generator produced, to be saved with the study (undefined without --pgen). */
  readonly generatedParameters: readonly ParameterDef[] | undefined;
}

/** Reads, validates and expands a study; throws SpecError (all problems) or a plain Error for I/O. */
export async function loadStudy(options: LoadStudyOptions): Promise<LoadedStudy> {
  const specFile = path.resolve(options.cwd, options.specPath);
  let text: string;
  try {
    text = await readFile(specFile, 'utf8');
  } catch (err) {
    throw new SpecError([
      {
        code: SpecErrorCode.YamlSyntax,
        file: options.specPath,
        path: '',
        message: `cannot read the spec file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        allowed: 'give the path of a readable YAML study specification',
      },
    ]);
  }
  if (options.pargs?.length && !options.pgen && !options.savedParameters) {
    throw new SpecError([
      {
        code: SpecErrorCode.Parameters,
        path: '--pargs',
        message: '--pargs needs --pgen',
        allowed: 'add --pgen FILE, or drop --pargs',
      },
    ]);
  }
  const { study, warnings } = parseStudy(text, { file: options.specPath });
  const specRoot = options.specRoot ?? path.dirname(specFile);
  const root = options.out
    ? path.resolve(options.cwd, options.out)
    : defaultStudyRoot(study, { cwd: options.cwd, specRoot, now: options.now });

  let generated: readonly ParameterDef[] | undefined = options.savedParameters;
  if (!generated && options.pgen) {
    const env = Object.fromEntries(resolveEnvironment(study, { root, specRoot, cwd: options.cwd }));
    const { parsePargs, runParameterGenerator } = await import('../pgen/index.js');
    generated = await runParameterGenerator(path.resolve(options.cwd, options.pgen), parsePargs(options.pargs ?? []), {
      outputPath: root,
      specRoot,
      env,
      cwd: options.cwd,
    });
  }
  const parameters = generated ? parametersFromGenerator(generated, options.pgen ?? 'saved parameters') : undefined;
  const expanded = expandStudy(study, {
    root,
    specRoot,
    cwd: options.cwd,
    hashWorkspaces: options.hashWorkspaces,
    workspaceFanout: options.workspaceFanout,
    maxInstances: options.maxInstances,
    parameters,
  });
  return { study, expanded, warnings, specFile, generatedParameters: generated };
}
