/**
 * Our sample folders against Merlin's own code: test/fixtures/merlin/sample_index holds Merlin's
 * sample_index.py and sample_index_factory.py (copied, see the README there) and a script of
 * ours that asks them where each sample goes, as Merlin's expand_tasks_with_samples does.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleFolders } from '@maestro/spec';
import { REPO_ROOT } from '../helpers/shared.js';

const DIR = path.join(REPO_ROOT, 'test/fixtures/merlin/sample_index');
/** Sample counts around each level boundary, with the default 25 and other level_max_dirs. */
const CASES = [
  '1,25',
  '2,25',
  '10,25',
  '25,25',
  '26,25',
  '100,25',
  '626,25',
  '1000,10',
  '1001,10',
  '5,2',
  '17,3',
  '9,100',
];

interface MerlinFolders {
  glob: string;
  paths: string[];
  all: string;
}

describe("sample folders, against Merlin's sample_index code", () => {
  it('gives every sample the folder Merlin gives it, and the same glob and list of all folders', () => {
    // -B: no __pycache__ left in the checkout.
    const merlin = JSON.parse(
      execFileSync('python3', ['-B', 'folders.py', ...CASES], { cwd: DIR, encoding: 'utf8' }),
    ) as Record<string, MerlinFolders>;
    expect(Object.keys(merlin)).toEqual(CASES);
    for (const c of CASES) {
      const [count, levelMaxDirs] = c.split(',').map(Number) as [number, number];
      const ours = sampleFolders(count, levelMaxDirs);
      const expected = merlin[c]!;
      expect({ c, paths: Array.from({ length: count }, (_, id) => ours.pathOf(id)) }).toEqual({
        c,
        paths: expected.paths,
      });
      expect({ c, glob: ours.globPath, all: ours.pathsAll() }).toEqual({ c, glob: expected.glob, all: expected.all });
    }
  });
});
