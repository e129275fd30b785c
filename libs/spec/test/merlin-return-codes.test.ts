/** Merlin's return-code tokens: substituted with Merlin's numbers, and what makes a study act on them. */
import { describe, expect, it } from 'vitest';
import { expandStudy, MERLIN_RETURN_CODES, parseStudy, usesMerlinReturnCodes } from '@maestro/spec';

const head = 'description: {name: codes, description: return codes}\n';
const parse = (body: string) => parseStudy(head + body, { file: 'codes.yaml' }).study;

describe('Merlin return-code tokens', () => {
  it("are replaced by Merlin's numbers in cmd and restart", () => {
    const study = parse(`study:
  - name: a
    description: every code
    run:
      cmd: echo $(MERLIN_SUCCESS) $(MERLIN_RESTART) $(MERLIN_SOFT_FAIL) $(MERLIN_HARD_FAIL) $(MERLIN_RETRY) $(MERLIN_STOP_WORKERS) $(MERLIN_RAISE_ERROR)
      restart: exit $(MERLIN_RETRY)
`);
    const x = expandStudy(study, { root: '/out', specRoot: '/spec', cwd: '/' });
    expect(x.instance(0).cmd).toBe('echo 0 100 101 102 104 105 106');
    expect(x.instance(0).restart).toBe('exit 104');
  });

  it('match merlin/common/enums.py ReturnCode', () => {
    expect(MERLIN_RETURN_CODES).toEqual({
      MERLIN_SUCCESS: 0,
      MERLIN_RESTART: 100,
      MERLIN_SOFT_FAIL: 101,
      MERLIN_HARD_FAIL: 102,
      MERLIN_RETRY: 104,
      MERLIN_STOP_WORKERS: 105,
      MERLIN_RAISE_ERROR: 106,
    });
  });

  it('an env variable of the same name wins, as any declared token does', () => {
    const study = parse(`env: {variables: {MERLIN_RETRY: seven}}
study:
  - {name: a, description: d, run: {cmd: echo $(MERLIN_RETRY)}}
`);
    expect(expandStudy(study, { root: '/out', specRoot: '/spec', cwd: '/' }).instance(0).cmd).toBe('echo seven');
  });
});

describe('usesMerlinReturnCodes', () => {
  const step = (run: string): string => `study:\n  - name: a\n    description: d\n    run: ${run}\n`;
  it('is false for a plain Maestro study, whose exit 104 stays a failure', () => {
    expect(usesMerlinReturnCodes(parse(step('{cmd: exit 104}')))).toBe(false);
  });
  it('is true with a merlin block, a Merlin run key or a return-code token', () => {
    expect(usesMerlinReturnCodes(parse(step('{cmd: exit 1}') + 'merlin: {resources: {}}\n'))).toBe(true);
    expect(usesMerlinReturnCodes(parse(step('{cmd: exit 1, max_retries: 2}')))).toBe(true);
    expect(usesMerlinReturnCodes(parse(step('{cmd: exit 1, retry_delay: 2}')))).toBe(true);
    expect(usesMerlinReturnCodes(parse(step('{cmd: exit 1, task_queue: q}')))).toBe(true);
    expect(usesMerlinReturnCodes(parse(step("{cmd: 'exit $(MERLIN_SOFT_FAIL)'}")))).toBe(true);
    expect(usesMerlinReturnCodes(parse(step("{cmd: 'true', restart: 'exit $(MERLIN_RETRY)'}")))).toBe(true);
  });
});
