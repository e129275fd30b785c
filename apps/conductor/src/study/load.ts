/**
 * Reads a spec file and expands it: the file system side of @maestro/spec (reading, the
 * generator process, the clock), so the library stays pure.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  defaultStudyRoot,
  expandStudy,
  isSpecError,
  parametersFromGenerator,
  readStudy,
  resolveEnvironment,
  sortProblems,
  SpecError,
  SpecErrorCode,
  studyProblem,
  MAX_FOLDER_NAME_BYTES,
  type ExpandedStudy,
  type ParameterDef,
  type SampleTable,
  type SpecProblem,
  type Study,
} from '@maestro/spec';
import { pathDependencyProblems } from './dependencies.js';
import { merlinPlaces, readSamples } from './merlin-info.js';

export interface LoadStudyOptions {
  /** The spec file as the user typed it. */
  readonly specPath: string;
  /** `-o DIR`: the study root, used verbatim (no timestamp). */
  readonly out?: string | undefined;
  /** `--pgen FILE`: a parameter generator replacing global.parameters. */
  readonly pgen?: string | undefined;
  /** `--pargs KEY:VALUE`, repeated. */
  readonly pargs?: readonly string[] | undefined;
  /** `--pgen-timeout`: how long the generator may run. @default PGEN_TIMEOUT_MS */
  readonly pgenTimeoutMs?: number | undefined;
  readonly hashWorkspaces?: boolean | undefined;
  readonly workspaceFanout?: number | undefined;
  readonly maxInstances?: number | undefined;
  /** Generated parameters saved earlier (resume): used instead of running the generator again. */
  readonly savedParameters?: readonly ParameterDef[] | undefined;
  readonly cwd: string;
  readonly now: Date;
  /** `$(SPECROOT)` when the spec was copied (resume reads the copy in the study root). */
  readonly specRoot?: string | undefined;
  /**
   * Report the problems of every layer at once (`validate`, `run`): the expansion is checked on
   * the usable parts of a spec that has problems, and the paths of `dependencies.paths` must
   * exist. Without it (`expand`) the spec's own problems stop the load before expansion.
   */
  readonly everyLayer?: boolean | undefined;
  /**
   * The Merlin samples file must exist (it is read whenever it does): `run` once the generator
   * ran, and every reload of a study that has run.
   */
  readonly requireSamples?: boolean | undefined;
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

/**
 * Reads, validates and expands a study; throws SpecError (all problems, in file order) or a plain
 * Error for I/O.
 */
export async function loadStudy(options: LoadStudyOptions): Promise<LoadedStudy> {
  const specFile = path.resolve(options.cwd, options.specPath);
  const text = await readSpec(specFile, options.specPath);
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
  const { study, errors, warnings } = readStudy(text, { file: options.specPath });
  if (!study || (errors.length > 0 && !options.everyLayer)) throw new SpecError(errors);
  const problems: SpecProblem[] = [...errors];
  const specRoot = options.specRoot ?? path.dirname(specFile);
  const root = options.out
    ? path.resolve(options.cwd, options.out)
    : defaultStudyRoot(study, { cwd: options.cwd, specRoot, now: options.now });
  problems.push(...rootNameProblems(study, root, options.out));

  let generated: readonly ParameterDef[] | undefined = options.savedParameters;
  // The generator is the user's code: it runs for a spec without problems only, as it reads the
  // spec's environment. Without it the parameters are unknown, and so is the expansion.
  if (!generated && options.pgen && problems.length === 0) {
    const env = Object.fromEntries(resolveEnvironment(study, { root, specRoot, cwd: options.cwd }));
    const { parsePargs, runParameterGenerator } = await import('../pgen/index.js');
    generated = await runParameterGenerator(path.resolve(options.cwd, options.pgen), parsePargs(options.pargs ?? []), {
      outputPath: root,
      specRoot,
      env,
      cwd: options.cwd,
      timeoutMs: options.pgenTimeoutMs,
    });
  }
  const parameters = generated ? parametersFromGenerator(generated, options.pgen ?? 'saved parameters') : undefined;
  const places = { root, specRoot, cwd: options.cwd, now: options.now, specFile };
  let samples: SampleTable | undefined;
  try {
    if (problems.length === 0) samples = await readSamples(study, places, options.requireSamples ?? false);
  } catch (err) {
    if (!isSpecError(err)) throw err;
    problems.push(...err.problems);
  }
  let expanded: ExpandedStudy | undefined;
  if (!options.pgen || generated) {
    try {
      expanded = expandStudy(study, {
        ...merlinPlaces(places),
        samples,
        hashWorkspaces: options.hashWorkspaces,
        workspaceFanout: options.workspaceFanout,
        maxInstances: options.maxInstances,
        parameters,
      });
    } catch (err) {
      // On a spec with problems the expansion runs on what is usable: it can only add problems.
      if (isSpecError(err)) problems.push(...err.problems);
      else if (problems.length === 0) throw err;
    }
  }
  if (options.everyLayer) {
    problems.push(...(await pathDependencyProblems(study, { root, specRoot, cwd: options.cwd })));
  }
  if (problems.length > 0 || !expanded) throw new SpecError(sortProblems(problems));
  return { study, expanded, warnings, specFile, generatedParameters: generated };
}

async function readSpec(specFile: string, specPath: string): Promise<string> {
  try {
    return await readFile(specFile, 'utf8');
  } catch (err) {
    throw new SpecError([
      {
        code: SpecErrorCode.YamlSyntax,
        file: specPath,
        path: '',
        message: `cannot read the spec file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        allowed: 'give the path of a readable YAML study specification',
      },
    ]);
  }
}

/**
 * Every folder name of the study root must fit in a file system's 255 bytes, or `mkdir` fails
 * (ENAMETOOLONG) once part of the study is written. Without -o the last one is named after the
 * study (`<name>_YYYYMMDD-HHMMSS`) and those above come from OUTPUT_PATH.
 */
function rootNameProblems(study: Study, root: string, out: string | undefined): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const names = root.split(path.sep).filter((n) => n !== '');
  names.forEach((name, k) => {
    const bytes = Buffer.byteLength(name);
    if (bytes <= MAX_FOLDER_NAME_BYTES) return;
    const shown = name.length > 40 ? `${name.slice(0, 20)}...${name.slice(-15)}` : name;
    const allowed = `at most ${MAX_FOLDER_NAME_BYTES} bytes per folder name: the longest file systems take`;
    if (out !== undefined) {
      problems.push({
        code: SpecErrorCode.NameTooLong,
        path: '-o',
        message: `the folder name '${shown}' is ${bytes} bytes long`,
        allowed,
      });
    } else if (k === names.length - 1) {
      problems.push(
        studyProblem(
          study,
          SpecErrorCode.NameTooLong,
          ['description', 'name'],
          `the study folder is named after the study: '${shown}' is ${bytes} bytes long`,
          `${allowed}, the date and time (_YYYYMMDD-HHMMSS) included; shorten the name, or give the folder with -o DIR`,
        ),
      );
    } else {
      problems.push(
        studyProblem(
          study,
          SpecErrorCode.NameTooLong,
          ['env', 'variables', 'OUTPUT_PATH'],
          `OUTPUT_PATH puts the study under a folder name of ${bytes} bytes ('${shown}')`,
          allowed,
        ),
      );
    }
  });
  return problems;
}
