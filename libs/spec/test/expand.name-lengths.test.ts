/**
 * Names too long for the file system (issue #26 item 8): step names and parameter labels become
 * folder and file names, and a folder or file name is at most 255 bytes. What would be too long
 * is refused when the spec is checked, with the limit named; what only looks long (with --hashws
 * the labels are hashed) is not.
 */
import { StepJob } from '@maestro/protocol';
import { describe, expect, it } from 'vitest';
import {
  expandStudy,
  MAX_FILE_BASE_BYTES,
  MAX_FOLDER_NAME_BYTES,
  parseStudy,
  readStudy,
  SpecError,
  SpecErrorCode,
  type SpecProblem,
} from '@maestro/spec';

const places = { root: '/r', specRoot: '/s', cwd: '/c' };

function problemsOf(text: string, hashWorkspaces = false): SpecProblem[] {
  const { study, errors } = readStudy(text, { file: 'f.yaml' });
  const out = [...errors];
  try {
    expandStudy(study!, { ...places, hashWorkspaces });
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    out.push(...err.problems);
  }
  return out;
}

const header = 'description: {name: n, description: d}\nstudy:\n';
const step = (name: string, cmd = 'echo hi'): string => `  - {name: ${name}, description: d, run: {cmd: "${cmd}"}}\n`;
const params = (values: string, label = 'P.%%'): string =>
  `global.parameters:\n  P: {values: [${values}], label: "${label}"}\n`;

describe('names too long for the file system', () => {
  it('refuses a 10,000-character step name once, at the name, naming the limit', () => {
    const problems = problemsOf(header + step('a'.repeat(10_000)));
    expect(problems).toEqual([
      expect.objectContaining({
        code: SpecErrorCode.NameTooLong,
        line: 3,
        col: 12,
        path: 'study[0].name',
        message: `step name '${'a'.repeat(20)}...${'a'.repeat(12)}' (10,000 characters) is too long to name the step's workspace folder`,
        allowed: expect.stringMatching(/^at most 255 bytes once characters other than letters, digits and/),
      }),
    ]);
  });

  it('measures a step name as its folder is named: dropped characters do not count', () => {
    expect(problemsOf(header + step(`"${'a!'.repeat(200)}"`))).toEqual([]); // 200 letters once '!' is dropped
    expect(problemsOf(header + step('a'.repeat(MAX_FILE_BASE_BYTES)))).toEqual([]);
  });

  it('a step of one instance names its files after itself: at most 240 bytes, for the suffixes', () => {
    const problems = problemsOf(header + step('a'.repeat(MAX_FILE_BASE_BYTES + 1)));
    expect(problems.map((p) => [p.code, p.path, p.message])).toEqual([
      [
        SpecErrorCode.NameTooLong,
        'study[0].name',
        expect.stringMatching(
          /too long to name the step's script and output files \(241 bytes before \.restart\.sh or \.out\.<n>\)$/,
        ),
      ],
    ]);
  });

  it('refuses labels too long for a workspace folder at the value, unless --hashws names it', () => {
    const text = header + step('s', 'echo $(P)') + params(`short, ${'x'.repeat(300)}`, '%%');
    const problems = problemsOf(text);
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      [SpecErrorCode.NameTooLong, 'global.parameters.P.values[1]'],
    ]);
    expect(problems[0]!.message).toMatch(
      /^the workspace folder of instance 's_x+\.\.\.x+' \(302 characters\) is named by its labels: 300 bytes, too long for a folder name$/,
    );
    expect(problems[0]!.allowed).toMatch(/^at most 255 bytes; .*--hashws/);
    expect(problemsOf(text, true)).toEqual([]);
  });

  it('refuses an instance whose files <step>_<labels> would be too long, once per instance, up to a limit', () => {
    const values = Array.from({ length: 12 }, (_, i) => `${'v'.repeat(236)}${i}`).join(', ');
    const problems = problemsOf(header + step('step', 'echo $(P)') + params(values, '%%'));
    expect(problems).toHaveLength(11);
    const tooLong = problems.filter((p) => p.code === SpecErrorCode.NameTooLong);
    expect(tooLong).toHaveLength(10);
    expect(tooLong.every((p) => p.path === 'study[0].name')).toBe(true);
    expect(tooLong[0]!.message).toMatch(
      /^instance 'step_v+\.\.\.v+0' \(242 characters\) names its script and output files after itself: 242 bytes/,
    );
    expect(problems.map((p) => p.message)).toContain("... and 2 more workspace problems in step 'step'");
  });

  it('a step name that leaves no room for labels is reported once, not once per instance', () => {
    const problems = problemsOf(header + step('a'.repeat(250), 'echo $(P)') + params('1, 2, 3'));
    expect(problems.map((p) => [p.code, p.path])).toEqual([[SpecErrorCode.NameTooLong, 'study[0].name']]);
    expect(problems[0]!.message).toMatch(/leaves no room for the labels in its instances' file names/);
    expect(problemsOf(header + step('a'.repeat(250), 'echo $(P)') + params('1, 2, 3'), true)).toEqual([]);
  });

  it('the limits are the file system and the step job ones', () => {
    expect(MAX_FOLDER_NAME_BYTES).toBe(255);
    expect(MAX_FILE_BASE_BYTES + '.restart.sh'.length).toBeLessThanOrEqual(MAX_FOLDER_NAME_BYTES);
    // A file name the spec accepts is one the conductor can queue, and no longer.
    expect(StepJob.shape.fileName.safeParse('f'.repeat(MAX_FILE_BASE_BYTES)).success).toBe(true);
    expect(StepJob.shape.fileName.safeParse('f'.repeat(MAX_FILE_BASE_BYTES + 1)).success).toBe(false);
  });

  it('parseStudy refuses what readStudy reports', () => {
    expect(() => parseStudy(header + step('b'.repeat(300)), { file: 'f.yaml' })).toThrow(/SPEC_NAME_TOO_LONG|too long/);
  });
});
