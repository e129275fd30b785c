/**
 * Our sample folders against Merlin's own: test/fixtures/merlin/sample-folders.expected.json is
 * what Merlin's sample_index code answered for each case (where each sample goes, the glob, the
 * list of all folders), recorded as test/fixtures/merlin/README.md says; the code itself is not
 * kept here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleFolders } from '@maestro/spec';
import { REPO_ROOT } from '../helpers/shared.js';

const EXPECTED = path.join(REPO_ROOT, 'test/fixtures/merlin/sample-folders.expected.json');
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
    const merlin = JSON.parse(readFileSync(EXPECTED, 'utf8')) as Record<string, MerlinFolders>;
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
