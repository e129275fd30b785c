/** The node-hours bound (issue #25 item 4): Σ nodes × walltime, per step and in total. */
import { describe, expect, it } from 'vitest';
import { expandStudy, nodeHours, parseStudy } from '@maestro/spec';

const places = { root: '/r', specRoot: '/s', cwd: '/c' };
const expand = (text: string) => expandStudy(parseStudy(text, { file: 'f.yaml' }).study, places);

describe('nodeHours', () => {
  it('multiplies nodes by walltime for each instance, tokens in either resolved per instance', () => {
    const x = expand(`description: {name: nh, description: d}
study:
  - name: build
    description: no walltime
    run: {cmd: make}
  - name: sim
    description: 2 nodes, 30 minutes, 3 instances
    run: {cmd: "run $(N)", nodes: 2, walltime: "00:30:00", depends: [build]}
  - name: scaled
    description: nodes and walltime from the parameters
    run: {cmd: "run $(N)", nodes: $(N), walltime: $(T)}
  - name: local
    description: no nodes counts one
    run: {cmd: "echo $(N)", walltime: "1-00:00:00"}
  - name: forever
    description: inf is no bound
    run: {cmd: "echo", walltime: inf}
global.parameters:
  N: {values: [1, 2, 4], label: N.%%}
  T: {values: ["60", "1:00:00", "0"], label: T.%%}
`);
    const nh = nodeHours(x);
    expect(nh.steps.map((s) => [s.step, s.instances, s.nodeHours, s.withoutWalltime])).toEqual([
      ['build', 1, 0, 1],
      ['sim', 3, 3, 0],
      // 1 node × 60 min + 2 nodes × 1 h; N=4 has walltime 0, no limit
      ['scaled', 3, 3, 1],
      ['local', 3, 72, 0],
      ['forever', 1, 0, 1],
    ]);
    expect([nh.total, nh.withoutWalltime]).toEqual([78, 3]);
  });
});
