/** A run's end as the StepResult it reports, and what the worker logs of the fence's answer. */
import { describe, expect, it } from 'vitest';
import type { StepResult } from '@maestro/protocol';
import type { Fence, RunRef } from '../src/queue/fence.js';
import { Results } from '../src/results.js';
import { captureLogs } from './helpers.js';

const ref: RunRef = { studyId: 's1', index: 3, attempt: 2 };
const who = { name: 'w1', host: 'node7', allocationId: '42' };

function fenceAnswering(answer: boolean | Error): { fence: Fence; sent: StepResult[] } {
  const sent: StepResult[] = [];
  const fence = {
    report: async (_ref: RunRef, result: StepResult) => {
      sent.push(result);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as Partial<Fence> as Fence;
  return { fence, sent };
}

describe('Results', () => {
  it('reports a run with who ran it, when it started, and the end time read from its clock', async () => {
    const { fence, sent } = fenceAnswering(true);
    const logs = captureLogs('info');
    const results = new Results(fence, who, logs.logger, () => 5_000);
    const fields = { outcome: 'failed' as const, exitCode: 1, signal: null, pid: 99, startMs: 1_000 };
    await results.report(results.ended(ref, 1, { ...fields, message: 'exited with code 1' }, logs.logger));
    expect(sent).toEqual([
      {
        type: 'result',
        index: 3,
        attempt: 2,
        run: 1,
        worker: 'w1',
        host: 'node7',
        allocationId: '42',
        pid: 99,
        startMs: 1_000,
        endMs: 5_000,
        outcome: 'failed',
        exitCode: 1,
        signal: null,
        message: 'exited with code 1',
      },
    ]);
    expect(results.done).toBe(1);
    expect(logs.lines).toEqual([
      expect.objectContaining({
        msg: 'step finished',
        outcome: 'failed',
        durationMs: 4_000,
        reason: 'exited with code 1',
      }),
    ]);
  });

  it('logs no line for a success below debug, warns of a refused result, and never throws', async () => {
    const succeeded = { outcome: 'succeeded' as const, exitCode: 0, signal: null, pid: 9, startMs: 0 };
    for (const [answer, expected] of [
      [true, []],
      [false, ['late result refused']],
      [new Error('connection lost'), ['result could not be reported']],
    ] as const) {
      const logs = captureLogs('info');
      const results = new Results(fenceAnswering(answer).fence, who, logs.logger, () => 10);
      await results.report(results.ended(ref, 1, succeeded, logs.logger));
      expect(logs.lines.map((l) => l['msg'])).toEqual(expected);
      expect(results.done).toBe(answer instanceof Error ? 0 : 1);
    }
  });

  it('leaves allocationId out of the started event of a worker outside any allocation', () => {
    const results = new Results(
      fenceAnswering(true).fence,
      { name: 'w', host: 'h', allocationId: undefined },
      captureLogs().logger,
      Date.now,
    );
    expect(results.startedEvent(ref, 7)).toEqual({
      type: 'started',
      index: 3,
      attempt: 2,
      worker: 'w',
      host: 'h',
      pid: 0,
      startMs: 7,
    });
  });
});
