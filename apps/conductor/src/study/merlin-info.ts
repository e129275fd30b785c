/**
 * A Merlin study's `merlin_info/` folder: the samples generated into it once per study, before
 * any step (merlin.samples.generate.cmd, run by /bin/sh in that folder as Merlin runs it through
 * a shell, its script and output kept as cmd.sh, cmd.out and cmd.err), the samples file read
 * from it, and the provenance copies of the spec. The file side of @maestro/spec's samples.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  MERLIN_INFO_DIR,
  merlinProvenanceFiles,
  merlinProvenanceTexts,
  parseSampleFile,
  replaceTokens,
  resolveEnvironment,
  sampleFileKind,
  sampleSettings,
  SampleFileError,
  SAMPLE_FILE_KINDS,
  SpecError,
  SpecErrorCode,
  studyProblem,
  timestampForPath,
  type EnvironmentPlaces,
  type SampleTable,
  type Study,
} from '@maestro/spec';
import { runProcess } from '../exec/index.js';

export interface MerlinInfoPlaces {
  readonly root: string;
  readonly specRoot: string;
  readonly cwd: string;
  /** The study's start: `$(MERLIN_TIMESTAMP)`. */
  readonly now: Date;
  /** The spec file (its base name names the provenance copies). */
  readonly specFile: string;
}

/** The environment places expansion needs for Merlin's study-wide tokens. */
export function merlinPlaces(p: MerlinInfoPlaces): EnvironmentPlaces {
  return {
    root: p.root,
    specRoot: p.specRoot,
    cwd: p.cwd,
    merlin: { timestamp: timestampForPath(p.now), specFile: p.specFile },
  };
}

/** The samples file with its tokens replaced; a relative path is taken from merlin_info/, where the generator runs. */
function samplesFile(study: Study, p: MerlinInfoPlaces): { file: string; tokens: Map<string, string> } | undefined {
  const settings = sampleSettings(study);
  if (!settings?.file) return undefined;
  const tokens = resolveEnvironment(study, merlinPlaces(p));
  const written = replaceTokens(settings.file, (n) => tokens.get(n));
  return { file: path.resolve(p.root, MERLIN_INFO_DIR, written), tokens };
}

/**
 * The study's samples, or undefined when it has none or (unless `required`) its file does not
 * exist yet. Throws SpecError (code SPEC_SAMPLES) for a file that cannot be read.
 */
export async function readSamples(
  study: Study,
  p: MerlinInfoPlaces,
  required: boolean,
): Promise<SampleTable | undefined> {
  const where = samplesFile(study, p);
  if (!where) return undefined;
  const problem = (message: string, allowed: string): SpecError =>
    new SpecError([studyProblem(study, SpecErrorCode.Samples, ['merlin', 'samples', 'file'], message, allowed)]);
  const kind = sampleFileKind(where.file);
  if (!kind) {
    throw problem(
      `'${where.file}' is not a file kind Merlin reads`,
      `a file ending in ${SAMPLE_FILE_KINDS.map((k) => `.${k}`).join(', ')}`,
    );
  }
  if (!existsSync(where.file)) {
    if (!required) return undefined;
    throw problem(
      `the samples file ${where.file} does not exist`,
      'merlin.samples.generate.cmd must write it, or it must exist before the study runs',
    );
  }
  try {
    return parseSampleFile(kind, await readFile(where.file));
  } catch (err) {
    if (err instanceof SampleFileError)
      throw problem(`cannot read ${where.file}: ${err.message}`, 'a samples file numpy.load or numpy.loadtxt reads');
    throw err;
  }
}

/**
 * Makes merlin_info/, writes the provenance copies of the spec, and runs the sample generator
 * if the samples file does not exist (as Merlin does: an existing file is used as it is).
 * Throws SpecError when the generator fails.
 */
export async function prepareMerlinInfo(study: Study, p: MerlinInfoPlaces): Promise<void> {
  if (!study.merlin) return;
  const info = path.join(p.root, MERLIN_INFO_DIR);
  await mkdir(info, { recursive: true });
  const tokens = resolveEnvironment(study, merlinPlaces(p));
  const files = merlinProvenanceFiles(p.root, p.specFile);
  const texts = merlinProvenanceTexts(study, tokens);
  await copyFile(p.specFile, files.original);
  await writeFile(files.executed, texts.executed);
  await writeFile(files.archived, texts.archived);

  const settings = sampleSettings(study);
  const where = samplesFile(study, p);
  if (!settings?.generateCmd || !where || existsSync(where.file)) return;
  const cmd = replaceTokens(settings.generateCmd, (n) => tokens.get(n));
  await writeFile(path.join(info, 'cmd.sh'), cmd);
  const outcome = await runProcess('/bin/sh', ['-c', cmd], { cwd: info });
  const stdout = outcome.kind === 'exited' ? outcome.stdout : '';
  const stderr = 'stderr' in outcome ? outcome.stderr : '';
  await writeFile(path.join(info, 'cmd.out'), stdout);
  await writeFile(path.join(info, 'cmd.err'), stderr);
  if (outcome.kind === 'exited' && outcome.exitCode === 0) return;
  const how =
    outcome.kind === 'exited'
      ? `exited ${outcome.exitCode}`
      : outcome.kind === 'killed'
        ? `was killed by ${outcome.signal}`
        : `could not run: ${outcome.message}`;
  const tail = stderr.trim().split('\n').slice(-5).join('\n');
  throw new SpecError([
    studyProblem(
      study,
      SpecErrorCode.Samples,
      ['merlin', 'samples', 'generate', 'cmd'],
      `the sample generator ${how} (run in ${info}; its output is in cmd.out and cmd.err there)${tail ? `:\n${tail}` : ''}`,
      `a command that writes ${where.file}`,
    ),
  ]);
}
