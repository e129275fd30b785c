/** Reading the time left of an allocation from what Slurm prints, and handing out slots in line. */
import { describe, expect, it } from 'vitest';
import { parseScontrolTimeLeft, parseSqueueTimeLeft } from '../src/allocation.js';
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
  it('serves steps in line, so a large one is not overtaken by later small ones', async () => {
    const slots = new Slots(4, ['a', 'b']);
    const first = slots.tryTake(3, 1)!;
    expect(first).toEqual({ cores: 3, gpuIds: ['a'] });
    const large = slots.take(4, 0);
    expect(slots.tryTake(1, 0)).toBeUndefined(); // one core is free, but the large step waits first
    slots.release(first);
    expect(await large).toEqual({ cores: 4, gpuIds: [] });
    expect(slots.freeCores).toBe(0);
    expect(slots.freeGpus).toBe(2);
  });

  it('lets waiting steps go when the worker drains', async () => {
    const slots = new Slots(1, []);
    slots.tryTake(1, 0);
    const waiting = slots.take(1, 0);
    slots.abandon();
    expect(await waiting).toBeUndefined();
  });
});
