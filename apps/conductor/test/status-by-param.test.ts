import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StatusCsvRow } from '@maestro/protocol';
import {
  analyseByParam as analyseSamples,
  describeStandout,
  parseParams,
  parseRunTime,
  samplesFromStatusRows,
} from '../src/status/by-param.js';

const analyseByParam = (rows: readonly StatusCsvRow[]) => analyseSamples(samplesFromStatusRows(rows));

function row(state: string, params: string, runTime = '0d:00h:00m:02s', workspace = 'sim/x'): StatusCsvRow {
  return {
    'Step Name': `sim_${params}`,
    'Job ID': '1',
    Workspace: workspace,
    State: state,
    'Run Time': state === 'FINISHED' ? runTime : '--',
    'Elapsed Time': '--',
    'Start Time': '--',
    'Submit Time': '--',
    'End Time': '--',
    'Number Restarts': '0',
    Params: params,
  };
}

describe('parseParams and parseRunTime', () => {
  it('reads status.csv parameters, a value holding ; or : included', () => {
    expect(parseParams('')).toEqual([]);
    expect(parseParams('A:1;B:x:y;C:a;b')).toEqual([
      ['A', '1'],
      ['B', 'x:y'],
      ['C', 'a;b'],
    ]);
  });
  it("reads Maestro's run time", () => {
    expect(parseRunTime('1d:02h:03m:04s')).toBe(86400 + 7200 + 180 + 4);
    expect(parseRunTime('--')).toBeUndefined();
  });
});

describe('analyseByParam', () => {
  it('names a value whose instances fail far more often than the others, with its share of the failures', () => {
    const rows = [
      ...Array.from({ length: 6 }, () => row('FAILED', 'MESH:fine', undefined, 'sim/MESH.fine')),
      row('FINISHED', 'MESH:fine', '0d:00h:00m:09s'),
      ...Array.from({ length: 14 }, (_, k) => row('FINISHED', `MESH:coarse`, `0d:00h:00m:0${k % 3}s`)),
      row('TIMEDOUT', 'MESH:coarse'),
      row('RUNNING', 'MESH:coarse'),
      row('CANCELLED', 'MESH:coarse'),
      row('FAILED', '', undefined, 'prep'),
    ];
    const r = analyseByParam(rows);
    expect([r.instances, r.withParams, r.failed]).toEqual([25, 24, 8]);
    expect(r.standouts.map((s) => [s.param, s.value, s.failed, s.ended, s.restFailed, s.restEnded])).toEqual([
      ['MESH', 'fine', 6, 7, 1, 15],
    ]);
    expect(describeStandout(r.standouts[0]!)).toBe(
      '6 of 8 failures have MESH=fine in sim: 6 of its 7 ended instances failed, against 1 of the 15 with other MESH values',
    );
    expect(r.params['MESH']).toEqual([
      { value: 'fine', instances: 7, finished: 1, failed: 6, active: 0, other: 0, medianRunSeconds: 9 },
      { value: 'coarse', instances: 17, finished: 14, failed: 1, active: 1, other: 1, medianRunSeconds: 1 },
    ]);
  });

  it('names nothing when the failures are spread like the instances, or are too few', () => {
    const spread = ['a', 'b', 'c'].flatMap((v) => [
      row('FAILED', `P:${v}`),
      row('FINISHED', `P:${v}`),
      row('FINISHED', `P:${v}`),
    ]);
    expect(analyseByParam(spread).standouts).toEqual([]);
    const single = [row('FAILED', 'P:a'), ...Array.from({ length: 30 }, () => row('FINISHED', 'P:b'))];
    expect(analyseByParam(single).standouts).toEqual([]);
  });

  it('counts every instance of a parameter once, in one state class', () => {
    const states = ['FINISHED', 'FAILED', 'TIMEDOUT', 'RUNNING', 'PENDING', 'CANCELLED', 'QUEUED'];
    const arbRow = fc
      .record({
        state: fc.constantFrom(...states),
        a: fc.option(fc.constantFrom('1', '2', '3')),
        b: fc.constantFrom('x', 'y'),
      })
      .map(({ state, a, b }) => row(state, [a === null ? undefined : `A:${a}`, `B:${b}`].filter(Boolean).join(';')));
    fc.assert(
      fc.property(fc.array(arbRow, { maxLength: 60 }), (rows) => {
        const r = analyseByParam(rows);
        for (const [param, values] of Object.entries(r.params)) {
          const having = rows.filter((x) => x.Params.includes(`${param}:`)).length;
          expect(values.reduce((n, v) => n + v.instances, 0)).toBe(having);
          for (const v of values) expect(v.finished + v.failed + v.active + v.other).toBe(v.instances);
        }
        for (const s of r.standouts) {
          expect(s.failed).toBeGreaterThanOrEqual(2);
          expect(s.failed / s.ended).toBeGreaterThan(s.restEnded ? s.restFailed / s.restEnded : 0);
        }
      }),
    );
  });
});
