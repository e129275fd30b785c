/**
 * Batch types (issue #19 item 7): Maestro loads and expands a study whatever its `batch.type`,
 * and only its conductor, when it launches, asks for an adapter; Merlin specs use `lsf-srun`. So
 * any type loads and expands here; an unknown one gets a warning naming the known ones.
 */
import { describe, expect, it } from 'vitest';
import { BATCH_TYPES, expandStudy, parseStudy, SpecErrorCode } from '@maestro/spec';

const spec = (type: string): string =>
  [
    'description: {name: b, description: batch types}',
    'batch:',
    `  type: ${type}`,
    '  host: lassen',
    '  bank: wbronze',
    '  queue: pdebug',
    'study:',
    '  - {name: sim, description: d, run: {cmd: "$(LAUNCHER) ./sim -s $(SIZE)", nodes: 1, procs: 4, walltime: "00:10:00"}}',
    'global.parameters:',
    '  SIZE: {values: [10, 20], label: SIZE.%%}',
  ].join('\n');

const places = { root: '/out/study', specRoot: '/specs', cwd: '/home/u' };

describe('batch types', () => {
  for (const type of BATCH_TYPES) {
    it(`'${type}' loads and expands without a warning`, () => {
      const { study, warnings } = parseStudy(spec(type), { file: 'f.yaml' });
      expect(warnings).toEqual([]);
      expect(study.batch.type).toBe(type);
      const x = expandStudy(study, places);
      expect([x.instanceName(0), x.instanceName(1)]).toEqual(['sim_SIZE.10', 'sim_SIZE.20']);
    });
  }

  it('lsf-srun, the type Merlin specs use for LSF through srun, is among them', () => {
    expect(BATCH_TYPES).toContain('lsf-srun');
  });

  it('an unknown type loads and expands with a located warning suggesting the closest known one', () => {
    const { study, warnings } = parseStudy(spec('slrum'), { file: 'f.yaml' });
    expect(study.batch.type).toBe('slrum');
    expect(expandStudy(study, places).instanceCount).toBe(2);
    expect(warnings).toEqual([
      expect.objectContaining({
        code: SpecErrorCode.InvalidValue,
        line: 3,
        col: 9,
        path: 'batch.type',
        message: expect.stringMatching(
          /^batch type 'slrum' is not one Maestro or Merlin has an adapter for \(did you mean 'slurm'\?\)/,
        ),
        allowed: `known batch types: ${BATCH_TYPES.join(', ')}`,
      }),
    ]);
  });

  it('a type that is not text is refused, saying what is allowed', () => {
    expect(() => parseStudy(spec('[slurm]'), { file: 'f.yaml' })).toThrow(
      /^f\.yaml:3:9: batch\.type: got a list \(\['slurm'\]\); a batch type, e\.g\. local, slurm, lsf, flux, pbs, lsf-srun$/,
    );
  });
});
