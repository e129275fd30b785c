/** parseStepEvent is the union's parse, only quicker: same values, same issues. */
import { describe, expect, it } from 'vitest';
import { parseStepEvent, StepEvent } from '@maestro/protocol';

const started = { type: 'started', index: 0, attempt: 1, run: 1, worker: 'w', host: 'h', pid: 7, startMs: 5 };
const result = {
  ...started,
  type: 'result',
  outcome: 'failed',
  exitCode: 3,
  signal: null,
  endMs: 9,
  message: 'exit code 3',
};

const issuesOf = (parse: (v: unknown) => unknown, value: unknown): unknown => {
  try {
    parse(value);
    return 'parsed';
  } catch (err) {
    return (err as { issues?: unknown }).issues ?? (err as Error).message;
  }
};

describe('parseStepEvent', () => {
  it.each([
    ['a start', started],
    ['a result', result],
    ['a result with an allocation', { ...result, allocationId: '123' }],
  ])('reads %s as the union does', (_, value) => {
    expect(parseStepEvent(value)).toEqual(StepEvent.parse(value));
  });

  it('drops keys it does not know, as the union does', () => {
    expect(parseStepEvent({ ...started, extra: 1 })).toEqual(started);
  });

  it.each([
    ['a bad outcome', { ...result, outcome: 'maybe' }],
    ['a missing field', { ...result, endMs: undefined }],
    ['a negative index', { ...started, index: -1 }],
    ['an unknown type', { ...started, type: 'paused' }],
    ['no type', { index: 0 }],
    ['not an object', 'started'],
    ['null', null],
  ])('refuses %s with the union’s issues', (_, value) => {
    const ours = issuesOf(parseStepEvent, value);
    expect(ours).not.toBe('parsed');
    expect(ours).toEqual(issuesOf((v) => StepEvent.parse(v), value));
  });
});
