/**
 * The conductor's side of run values: the walltime grammar that validation uses (@maestro/spec)
 * is the one that builds the job's timeout (@maestro/protocol), and resources from `$(NAME)`
 * tokens reach the job as numbers and booleans.
 */
import { describe, expect, it } from 'vitest';
import { parseWalltimeSeconds } from '@maestro/protocol';
import { expandStudy, isWalltime, parseStudy } from '@maestro/spec';
import { jobSettingsOf, settingsVaryByInstance } from '../src/conductor/step-jobs.js';

const SAMPLES = [
  ...['0', '90', '1.5', '00:30', '1:30:00', '01:30:00', '100:00:00', '1-0', '1-12', '1-2:30', '1-02:30:00'],
  ...['inf', 'INFINITE', 'unlimited', ' 10 ', '', '1:2:3.5'],
  ...['ten minutes', '1h', '30m', '1:2:3:4', '-1', '1-', ':30', '1::2', 'PT1H', '1e3', '0x10', '１'],
];

describe('walltime grammar', () => {
  it.each(SAMPLES)('validation and the job agree on %j', (text) => {
    let parses = true;
    try {
      parseWalltimeSeconds(text);
    } catch {
      parses = false;
    }
    expect(isWalltime(text)).toBe(parses);
  });

  it('agrees on numbers too', () => {
    for (const n of [0, 1, 90, 1.5, -1, Number.POSITIVE_INFINITY]) {
      expect(isWalltime(n), String(n)).toBe(Number.isFinite(n) && n >= 0);
      if (isWalltime(n)) expect(() => parseWalltimeSeconds(n)).not.toThrow();
      else expect(() => parseWalltimeSeconds(n)).toThrow();
    }
  });
});

describe('resources from tokens', () => {
  const jobs = (yaml: string) => {
    const { study } = parseStudy(`description: {name: t, description: d}\n${yaml}`, { file: 't.yaml' });
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c' });
    return Array.from({ length: x.instanceCount }, (_, i) => {
      const inst = x.instance(i);
      return [inst.name, jobSettingsOf(x, inst).resources] as const;
    });
  };

  it('reads counts given as text', () => {
    expect(
      jobs(`study:
  - {name: s, description: d, run: {cmd: "echo $(P)", procs: $(P), nodes: $(N), gpus: $(G), cores per task: $(C)}}
global.parameters:
  P: {values: [4, 8], label: P.%%}
  N: {values: [1, 2], label: N.%%}
  G: {values: [0, 1], label: G.%%}
  C: {values: [2, 3], label: C.%%}
`),
    ).toEqual([
      ['s_C.2.G.0.N.1.P.4', { procs: 4, nodes: 1, gpus: 0, coresPerTask: 2 }],
      ['s_C.3.G.1.N.2.P.8', { procs: 8, nodes: 2, gpus: 1, coresPerTask: 3 }],
    ]);
  });

  it("exclusive: $(X) is Python's truthiness of X's YAML value, not always on", () => {
    expect(
      jobs(`env: {variables: {FLAG1: 1, FLAG0: 0}}
study:
  - {name: p, description: d, run: {cmd: "echo $(X)", exclusive: $(X)}}
  - {name: is-on, description: d, run: {cmd: x, exclusive: $(FLAG1)}}
  - {name: is-off, description: d, run: {cmd: x, exclusive: $(FLAG0)}}
  - {name: literal, description: d, run: {cmd: x, exclusive: true}}
global.parameters:
  X: {values: [True, False, yes, no, 1, 0, None, some text], label: X.%%}
`).map(([name, r]) => [name, r.exclusive]),
    ).toEqual([
      ['p_X.True', true],
      ['p_X.False', false],
      // YAML 1.1 as PyYAML reads it: yes/no are booleans, so they print as True/False.
      ['p_X.1', true],
      ['p_X.0', false],
      ['p_X.None', false],
      ['p_X.some text', true],
      ['is-on', true],
      ['is-off', false],
      ['literal', true],
    ]);
  });
});

describe('settingsVaryByInstance', () => {
  it('tells steps whose instances may ask for different resources from those that cannot', () => {
    const { study } = parseStudy(
      `description: {name: t, description: d}
study:
  - {name: same, description: d, run: {cmd: "echo $(P)", procs: 2, walltime: "00:10:00"}}
  - {name: sized, description: d, run: {cmd: "echo $(P)", procs: $(P)}}
  - {name: queued, description: d, run: {cmd: "echo $(P)", task_queue: "q$(P)"}}
global.parameters:
  P: {values: [1, 2], label: P.%%}
`,
      { file: 't.yaml' },
    );
    const x = expandStudy(study, { root: '/r', specRoot: '/s', cwd: '/c' });
    expect(x.steps.map((_, s) => settingsVaryByInstance(x, s))).toEqual([false, true, true]);
    // Where it says no, every instance asks what the first asks.
    const first = jobSettingsOf(x, x.instance(0));
    expect(jobSettingsOf(x, x.instance(1))).toEqual(first);
  });
});
