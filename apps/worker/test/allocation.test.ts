/**
 * Reading the time left of an allocation from what Slurm prints, what a worker asks Flux, and
 * handing out slots in line.
 */
import { describe, expect, it } from 'vitest';
import { askFluxFacts, parseScontrolTimeLeft, parseSqueueTimeLeft } from '../src/allocation.js';
import type { CommandOutput } from '../src/run-step.js';
import { Slots } from '../src/slots.js';

describe('time left', () => {
  it('reads every form of squeue -o %L', () => {
    expect(parseSqueueTimeLeft('2:00\n')).toBe(120);
    expect(parseSqueueTimeLeft('59:59')).toBe(3599);
    expect(parseSqueueTimeLeft('1:00:00')).toBe(3600);
    expect(parseSqueueTimeLeft('1-02:03:04')).toBe(93784);
    expect(parseSqueueTimeLeft('0:00')).toBe(0);
    expect(parseSqueueTimeLeft('UNLIMITED')).toBeUndefined();
    expect(parseSqueueTimeLeft('NOT_SET')).toBeUndefined();
    expect(() => parseSqueueTimeLeft('INVALID')).toThrow(/squeue printed 'INVALID'/);
  });

  it('reads TimeLimit - RunTime from scontrol show job', () => {
    const job = 'JobId=7 JobName=w\n   RunTime=00:00:05 TimeLimit=00:02:00 TimeMin=N/A\n';
    expect(parseScontrolTimeLeft(job)).toBe(115);
    expect(parseScontrolTimeLeft('RunTime=1-00:00:00 TimeLimit=UNLIMITED')).toBeUndefined();
    expect(() => parseScontrolTimeLeft('nothing')).toThrow(/no TimeLimit and RunTime/);
  });
});

describe('Slots', () => {
  it('hands out cores and GPU ids while they last, and takes them back', () => {
    const slots = new Slots(4, ['a', 'b']);
    const first = slots.tryTake(3, 1)!;
    expect(first).toEqual({ cores: 3, gpuIds: ['a'] });
    expect(slots.tryTake(2, 0)).toBeUndefined();
    expect(slots.tryTake(1, 1)).toEqual({ cores: 1, gpuIds: ['b'] });
    expect([slots.freeCores, slots.freeGpus]).toEqual([0, 0]);
    slots.release(first);
    expect([slots.freeCores, slots.freeGpus]).toEqual([3, 1]);
    expect(slots.tryTake(0, 1)).toEqual({ cores: 0, gpuIds: ['a'] });
  });
});

describe('what a worker asks Flux at start', () => {
  const answers =
    (table: Record<string, CommandOutput>) =>
    async (file: string, args: readonly string[]): Promise<CommandOutput> =>
      table[[file, ...args].join(' ')] ?? { exitCode: 1, stdout: '', stderr: 'no such command here' };
  const out = (stdout: string): CommandOutput => ({ exitCode: 0, stdout, stderr: '' });
  const resources = 'flux resource list -s all -n -o {ncores} {ngpus} -i 1';

  it("takes the allocation's id from flux getattr jobid and this node's cores and GPUs from its rank", async () => {
    const run = answers({
      'flux getattr jobid': out('ƒ4Fh9bJX\n'),
      'flux getattr rank': out('1\n'),
      [resources]: out('2 1\n'),
    });
    expect(await askFluxFacts({ allocationId: true, resources: true }, run)).toEqual({
      facts: { allocationId: 'ƒ4Fh9bJX', cores: 2, gpus: 1 },
      warnings: [],
    });
    expect(await askFluxFacts({ allocationId: false, resources: false }, run)).toEqual({ facts: {}, warnings: [] });
  });

  it('leaves out what Flux cannot say: an instance that is no job has no jobid, and that is no warning', async () => {
    const run = answers({
      'flux getattr jobid': { exitCode: 1, stdout: '', stderr: 'flux-getattr: jobid: No such file or directory' },
      'flux getattr rank': out('0\n'),
    });
    expect(await askFluxFacts({ allocationId: true, resources: true }, run)).toEqual({
      facts: {},
      warnings: ["cannot ask Flux what this node holds (exit 1: no such command here); counting the machine's cores"],
    });
    const missing = async (): Promise<CommandOutput> => ({
      exitCode: undefined,
      stdout: '',
      stderr: '',
      error: 'ENOENT',
    });
    expect((await askFluxFacts({ allocationId: true, resources: false }, missing)).warnings).toEqual([
      'flux getattr jobid did not answer: ENOENT',
    ]);
  });
});
