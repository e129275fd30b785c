/**
 * `env.dependencies` on disk, when a study is set up (Maestro's `acquire()`, reference §1.2):
 * every `paths` entry must exist before the study is created.
 */
import { stat } from 'node:fs/promises';
import {
  resolveDependencies,
  SpecError,
  SpecErrorCode,
  studyProblem,
  type EnvironmentPlaces,
  type SpecProblem,
  type Study,
} from '@maestro/spec';

/**
 * Throws SpecError listing every `dependencies.paths` entry whose path does not exist, each at
 * its place in the spec file.
 */
export async function checkPathDependencies(study: Study, places: EnvironmentPlaces): Promise<void> {
  const problems: SpecProblem[] = [];
  for (const d of resolveDependencies(study, places).paths) {
    const missing = await whyMissing(d.path);
    if (missing === undefined) continue;
    problems.push(
      studyProblem(
        study,
        SpecErrorCode.MissingPath,
        d.at,
        `path dependency ${d.name}: ${d.path} ${missing}`,
        `allowed: a path that exists (a relative one is taken from the working directory, ${places.cwd})`,
      ),
    );
  }
  if (problems.length > 0) throw new SpecError(problems);
}

/** Why `p` is not there (`does not exist`, or the error met), or undefined if it is. */
async function whyMissing(p: string): Promise<string | undefined> {
  try {
    await stat(p);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
  }
}
