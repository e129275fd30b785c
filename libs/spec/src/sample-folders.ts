/**
 * Where each sample of a Merlin sample step runs: the hierarchy Merlin builds with
 * `uniform_directories(n, bundle_size=1, level_max_dirs)` and `create_hierarchy`
 * (merlin/common/sample_index.py, sample_index_factory.py), computed instead of built, so that a
 * million samples cost nothing until one is asked for.
 *
 * With L = level_max_dirs, the hierarchy has the fewest levels k with L^k >= n; sample `id` sits
 * in the folder named by its k base-L digits, each zero-padded to the width of L
 * (`n_digits=len(str(level_max_dirs))`): with L = 25, sample 30 of 100 is `01/05`. One sample
 * needs no folder: it runs in the step's workspace.
 */

/** Merlin's default `merlin.samples.level_max_dirs` (merlin/spec/defaults.py). */
export const DEFAULT_LEVEL_MAX_DIRS = 25;

export interface SampleFolders {
  /** Folder levels below the step's workspace. */
  readonly levels: number;
  /** `$(MERLIN_SAMPLE_PATH)` of sample `id`: its folder relative to the step's workspace ('' for one sample). */
  pathOf(id: number): string;
  /** `$(MERLIN_GLOB_PATH)`: `*` + `/` per level, matching every sample folder. */
  readonly globPath: string;
  /** `$(MERLIN_PATHS_ALL)`: every sample folder, in sample order, separated by spaces. */
  pathsAll(): string;
}

export function sampleFolders(count: number, levelMaxDirs: number = DEFAULT_LEVEL_MAX_DIRS): SampleFolders {
  if (!Number.isInteger(levelMaxDirs) || levelMaxDirs < 2) {
    throw new RangeError(`level_max_dirs must be a whole number of at least 2, not ${levelMaxDirs}`);
  }
  let levels = 0;
  for (let capacity = 1; capacity < count; capacity *= levelMaxDirs) levels++;
  const width = String(levelMaxDirs).length;
  const pathOf = (id: number): string => {
    const parts: string[] = new Array<string>(levels);
    let rest = id;
    for (let l = levels - 1; l >= 0; l--) {
      parts[l] = String(rest % levelMaxDirs).padStart(width, '0');
      rest = Math.floor(rest / levelMaxDirs);
    }
    return parts.join('/');
  };
  // Built once, on first use: every instance of a step may use it, and it grows with the samples.
  let all: string | undefined;
  return {
    levels,
    pathOf,
    globPath: '*/'.repeat(levels),
    pathsAll: () => {
      if (all === undefined) {
        const paths: string[] = new Array<string>(count);
        for (let id = 0; id < count; id++) paths[id] = pathOf(id);
        all = paths.join(' ');
      }
      return all;
    },
  };
}
