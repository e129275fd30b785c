/**
 * Merlin samples: the samples file read as Merlin's load_array_file reads it, the sample folders
 * of merlin/common/sample_index_factory.py, and sample steps expanded once per sample.
 */
import { describe, expect, it } from 'vitest';
import {
  expandStudy,
  parseNpy,
  parseSampleFile,
  parseStudy,
  parseTextSamples,
  sampleFolders,
  SampleFileError,
  SpecError,
  type ExpandedStudy,
  type SampleTable,
} from '@maestro/spec';

/** A .npy file (format 1.0) as numpy.save writes it: magic, header padded to 64 bytes, data. */
function npy(descr: string, shape: number[], data: ArrayBufferView, fortran = false): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${dims}, }`;
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

const rowsOf = (t: SampleTable): string[][] =>
  Array.from({ length: t.count }, (_, r) => Array.from({ length: t.columns }, (_, c) => t.value(r, c)));

describe('the samples file', () => {
  it('reads float64 samples as Python prints them', () => {
    const t = parseNpy(npy('<f8', [3, 2], new Float64Array([0.5, 1e-5, 2, 1e16, -0.1, 3.25])));
    expect(rowsOf(t)).toEqual([
      ['0.5', '1e-05'],
      ['2.0', '1e+16'],
      ['-0.1', '3.25'],
    ]);
  });

  it('reads float32 with the fewest digits that give the same float32, as numpy prints it', () => {
    const t = parseNpy(npy('<f4', [2, 1], new Float32Array([0.1, 1 / 3])));
    expect(rowsOf(t)).toEqual([['0.1'], ['0.33333334']]);
  });

  it('reads integers, booleans, Fortran order and 1-D arrays (one column)', () => {
    expect(rowsOf(parseNpy(npy('<i8', [2, 2], new BigInt64Array([1n, -2n, 3n, 4n]))))).toEqual([
      ['1', '-2'],
      ['3', '4'],
    ]);
    expect(rowsOf(parseNpy(npy('|b1', [2], new Uint8Array([1, 0]))))).toEqual([['True'], ['False']]);
    // Column-major: the first column's values come first.
    expect(rowsOf(parseNpy(npy('<i4', [2, 2], new Int32Array([1, 2, 3, 4]), true)))).toEqual([
      ['1', '3'],
      ['2', '4'],
    ]);
  });

  it('refuses what it cannot read, saying what it takes', () => {
    expect(() => parseNpy(npy('<U5', [1, 1], new Uint8Array(20)))).toThrow(
      /dtype '<U5' is not supported; supported: bool \(b1\)/,
    );
    expect(() => parseNpy(new TextEncoder().encode('x,y\n'))).toThrow(SampleFileError);
    expect(() => parseNpy(npy('<f8', [2, 2, 2], new Float64Array(8)))).toThrow(/shape \(2, 2, 2\)/);
    expect(() => parseNpy(npy('<f8', [4, 1], new Float64Array(2)))).toThrow(/header promises/);
  });

  it('reads .csv and .tab text, skipping comments and blank lines', () => {
    expect(rowsOf(parseTextSamples('# x,y\n1, a\n\n2,b\n', ','))).toEqual([
      ['1', 'a'],
      ['2', 'b'],
    ]);
    expect(rowsOf(parseSampleFile('tab', new TextEncoder().encode('1\t2  3\n4 5 6\n')))).toEqual([
      ['1', '2', '3'],
      ['4', '5', '6'],
    ]);
    expect(() => parseTextSamples('1,2\n3\n', ',')).toThrow(/line 2 has 1 values, the rows before it 2/);
  });
});

describe("Merlin's sample folders", () => {
  it('puts one sample in the step workspace itself', () => {
    const f = sampleFolders(1, 25);
    expect([f.levels, f.pathOf(0), f.globPath, f.pathsAll()]).toEqual([0, '', '', '']);
  });

  it('uses one level of zero-padded folders up to level_max_dirs samples', () => {
    const f = sampleFolders(25, 25);
    expect([f.levels, f.pathOf(0), f.pathOf(24), f.globPath]).toEqual([1, '00', '24', '*/']);
    expect(sampleFolders(3, 25).pathsAll()).toBe('00 01 02');
  });

  it('nests base-level_max_dirs digits beyond that, padded to the width of level_max_dirs', () => {
    const f = sampleFolders(100, 25);
    expect([f.levels, f.pathOf(30), f.pathOf(99), f.globPath]).toEqual([2, '01/05', '03/24', '*/*/']);
    // level_max_dirs 10 has two digits: Merlin pads to len(str(10)).
    expect(sampleFolders(1000, 10).pathOf(987)).toBe('09/08/07');
  });
});

const SPEC = `
description: {name: s, description: samples}
env:
  variables:
    OUTPUT_PATH: ./studies
global.parameters:
  P: {values: [1, 2], label: P.%%}
study:
  - name: setup
    description: no samples
    run: {cmd: echo setup $(MERLIN_INFO) $(MERLIN_RETRY) $(MERLIN_SAMPLE_NAMES) $(MERLIN_TIMESTAMP)}
  - name: sim
    description: per sample
    run:
      cmd: echo $(X) $(Y) $(P) id=$(MERLIN_SAMPLE_ID) at=$(MERLIN_SAMPLE_PATH) in $(WORKSPACE)
      depends: [setup]
  - name: post
    description: per sample too, after the same sample of sim
    run:
      cmd: echo $(X) $(sim.workspace)/$(MERLIN_SAMPLE_PATH)
      depends: [sim]
  - name: collect
    description: once per combination, after every sample
    run:
      cmd: ls $(sim.workspace)/$(MERLIN_GLOB_PATH) $(MERLIN_PATHS_ALL)
      depends: [post]
  - name: funnel
    description: after everything
    run: {cmd: echo done, depends: [collect_*]}
  - name: vector
    description: a sample step through Merlin's sample vector
    run: {cmd: echo $(MERLIN_SAMPLE_VECTOR)}
merlin:
  samples:
    file: $(MERLIN_INFO)/samples.csv
    column_labels: [X, Y]
    level_max_dirs: 2
`;

function expand(table?: SampleTable): ExpandedStudy {
  const { study } = parseStudy(SPEC, { file: 's.yaml' });
  return expandStudy(study, {
    root: '/out/s',
    specRoot: '/spec',
    cwd: '/home/u',
    samples: table,
    merlin: { timestamp: '20261207-053000', specFile: '/spec/s.yaml' },
  });
}

describe('sample steps', () => {
  const table = parseTextSamples('a,1\nb,2\nc,3\n', ',');

  it('run once per sample and combination, in the sample folders under the combination', () => {
    const x = expand(table);
    expect(x.steps.map((s) => [s.name, s.instanceCount])).toEqual([
      ['setup', 1],
      ['sim', 6],
      ['post', 6],
      ['collect', 2],
      ['funnel', 1],
      ['vector', 3],
    ]);
    expect(x.instance(x.steps[5]!.firstInstance + 2).cmd).toBe('echo c 3');
    const sim4 = x.instance(x.steps[1]!.firstInstance + 4); // P=2, sample 1
    expect(sim4.name).toBe('sim_P.2_sample1');
    expect(sim4.workspace).toBe('sim/P.2/0/1');
    expect(sim4.fileName).toBe('sim_P.2');
    expect(sim4.cmd).toBe('echo b 2 2 id=1 at=0/1 in /out/s/sim/P.2/0/1');
    expect(x.instance(0).cmd).toBe('echo setup /out/s/merlin_info 104 X Y 20261207-053000');
  });

  it('wait for their parents as Merlin chains them', () => {
    const x = expand(table);
    const names = (i: number): string[] => x.parentsOf(i).map((p) => x.instanceName(p));
    const first = (s: number): number => x.steps[s]!.firstInstance;
    expect(names(first(1) + 4)).toEqual(['setup']);
    expect(names(first(2) + 4)).toEqual(['sim_P.2_sample1']);
    expect(names(first(3) + 1)).toEqual(['post_P.2_sample0', 'post_P.2_sample1', 'post_P.2_sample2']);
    expect(names(first(4))).toEqual(['collect_P.1', 'collect_P.2']);
    expect(x.instance(first(2) + 2).cmd).toBe('echo c /out/s/sim/P.1/1/0');
    expect(x.instance(first(3)).cmd).toBe('ls /out/s/sim/P.1/*/*/ 0/0 0/1 1/0');
  });

  it('nest combinations, not samples, in --workspace-fanout folders; samples go below', () => {
    const spec = `
description: {name: f, description: fanout}
global.parameters:
  P: {values: [1, 2, 3], label: P.%%}
study:
  - {name: sim, description: per sample, run: {cmd: echo $(X) $(P)}}
  - {name: post, description: per combination, run: {cmd: ls $(sim.workspace), depends: [sim]}}
merlin:
  samples: {file: s.csv, column_labels: [X, Y]}
`;
    const { study } = parseStudy(spec, { file: 'f.yaml' });
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c', workspaceFanout: 2, samples: table });
    expect(Array.from({ length: 9 }, (_, k) => x.instance(k).workspace)).toEqual([
      'sim/0/P.1/00',
      'sim/0/P.1/01',
      'sim/0/P.1/02',
      'sim/0/P.2/00',
      'sim/0/P.2/01',
      'sim/0/P.2/02',
      'sim/1/P.3/00',
      'sim/1/P.3/01',
      'sim/1/P.3/02',
    ]);
    expect(x.instance(11).cmd).toBe('ls /r/sim/1/P.3');
    expect(x.parentsOf(11).map((p) => x.instanceName(p))).toEqual([
      'sim_P.3_sample0',
      'sim_P.3_sample1',
      'sim_P.3_sample2',
    ]);
  });

  it('expand as written before the samples exist', () => {
    const x = expand();
    expect(x.steps.map((s) => s.instanceCount)).toEqual([1, 2, 2, 2, 1, 1]);
    expect(x.instance(1).cmd).toContain('$(X) $(Y) 1 id=$(MERLIN_SAMPLE_ID)');
  });

  it('refuse a samples file whose columns do not match column_labels', () => {
    expect(() => expand(parseTextSamples('1,2,3\n', ','))).toThrow(SpecError);
    expect(() => expand(parseTextSamples('1,2,3\n', ','))).toThrow(
      /merlin\.samples\.column_labels: the samples file has 3 column\(s\), column_labels names 2/,
    );
  });
});
