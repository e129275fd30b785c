/** The StepJob schema refuses paths that could leave their folder and numbers the fence cannot hold. */
import { describe, expect, it } from 'vitest';
import { MAX_STEP_JOB_NUMBER, PROTOCOL_VERSION, StepJob, type StepJobInput } from '@maestro/protocol';

const good: StepJobInput = {
  protocol: PROTOCOL_VERSION,
  prefix: 'maestro',
  studyId: 'study_20260101-000000.a1b2c3',
  index: 3,
  attempt: 1,
  name: 'sim_P.3',
  workspace: '/home/me/studies/study_20260101-000000/sim/P.3',
  fileName: 'sim_P.3',
  kind: 'cmd',
  script: '#!/bin/bash\necho hi\n',
  interpreter: ['/bin/bash'],
  env: { OMP_NUM_THREADS: '4' },
};

const problemsOf = (patch: Record<string, unknown>): string[] => {
  const r = StepJob.safeParse({ ...good, ...patch });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('StepJob', () => {
  it('accepts a job as the conductor writes it', () => {
    expect(StepJob.parse(good)).toMatchObject({ ...good, resources: {} });
    expect(problemsOf({ fileName: 'a'.repeat(240) })).toEqual([]);
    expect(problemsOf({ fileName: '.hidden', workspace: '/a/.b/c..d/...' })).toEqual([]);
  });

  it.each([
    '/',
    'relative/path',
    './ws',
    '../ws',
    '/study/../../etc',
    '/study/..',
    '/study/./x',
    '/study//x',
    '/study/x/',
    '/stu\0dy',
    `/${'d'.repeat(4095)}`,
  ])('refuses the workspace %j', (workspace) => {
    expect(problemsOf({ workspace })).toEqual([expect.stringMatching(/^workspace: must be an absolute path/)]);
  });

  it.each(['', '.', '..', 'a/b', '../up', '/abs', 'a\0b', 'f'.repeat(241), 'é'.repeat(121)])(
    'refuses the file name %j',
    (fileName) => {
      expect(problemsOf({ fileName })).toEqual([expect.stringMatching(/^fileName: must be one file name/)]);
    },
  );

  it('keeps index and attempt within the u32 fields of the state record', () => {
    expect(problemsOf({ index: MAX_STEP_JOB_NUMBER, attempt: MAX_STEP_JOB_NUMBER })).toEqual([]);
    expect(problemsOf({ index: MAX_STEP_JOB_NUMBER + 1 })).toHaveLength(1);
    expect(problemsOf({ attempt: 2 ** 53 })[0]).toMatch(/^attempt: /);
    expect(problemsOf({ index: -1, attempt: 0 })).toHaveLength(2);
  });

  it('refuses environment names that are not shell identifiers and NUL bytes where the launcher would choke', () => {
    for (const env of [{ '': 'v' }, { 'A=B': 'v' }, { 'A B': 'v' }, { '1A': 'v' }, { A: 'x\0y' }]) {
      expect(problemsOf({ env }), JSON.stringify(env)).toHaveLength(1);
    }
    expect(problemsOf({ interpreter: ['/bin/ba\0sh'] })).toHaveLength(1);
    expect(problemsOf({ name: 'n'.repeat(4097) })).toHaveLength(1);
  });
});
