/** What `maestro status` prints: colour only on terminals, the summary line, layouts, failures. */
import { describe, expect, it } from 'vitest';
import { clipLine, makePalette, shouldColour, visibleLength } from '../src/status/colour.js';
import type { StatusJson } from '../src/status/files.js';
import { renderStudyStatus, summaryLine } from '../src/status/view.js';
import type { StatusCsvRow } from '@maestro/protocol';

const plain = makePalette(false);
const coloured = makePalette(true);

function row(name: string, state: string, params = ''): StatusCsvRow {
  return {
    'Step Name': name,
    'Job ID': '42',
    Workspace: name.replace('_', '/'),
    State: state,
    'Run Time': '0d:00h:00m:01s',
    'Elapsed Time': '0d:00h:00m:02s',
    'Start Time': '2026-01-01 10:00:01',
    'Submit Time': '2026-01-01 10:00:00',
    'End Time': state === 'RUNNING' ? '--' : '2026-01-01 10:00:02',
    'Number Restarts': '0',
    Params: params,
  };
}

const t0 = Date.parse('2026-01-01T10:00:00Z');
const summary = (over: Partial<StatusJson> = {}): StatusJson => ({
  id: 's',
  name: 'demo',
  root: '/r',
  state: 'RUNNING',
  total: 4,
  counts: { INITIALIZED: 1, FINISHED: 1, FAILED: 1, RUNNING: 1 },
  running: 1,
  queued: 0,
  ratePerSec: 0.1,
  etaMs: 30_000,
  startedAt: new Date(t0).toISOString(),
  updatedAt: new Date(t0 + 60_000).toISOString(),
  steps: [
    { name: 'a', total: 2, counts: { FINISHED: 1, FAILED: 1 } },
    { name: 'b', total: 2, counts: { RUNNING: 1, INITIALIZED: 1 } },
  ],
  failures: [{ name: 'a_X.2', state: 'FAILED', exitCode: 3, attempt: 1, err: 'a/X.2/a_X.2.err' }],
  failedTotal: 1,
  ...over,
});

describe('colour', () => {
  it('is on for terminals, off for pipes and files, and follows NO_COLOR, FORCE_COLOR and the flag', () => {
    expect(shouldColour('auto', { isTTY: true }, {})).toBe(true);
    expect(shouldColour('auto', { isTTY: false }, {})).toBe(false);
    expect(shouldColour('auto', {}, {})).toBe(false);
    expect(shouldColour('auto', { isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColour('auto', { isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(shouldColour('auto', { isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldColour('always', { isTTY: false }, { NO_COLOR: '1' })).toBe(true);
    expect(shouldColour('never', { isTTY: true }, { FORCE_COLOR: '1' })).toBe(false);
  });

  it('colours states and clips lines by what the terminal shows', () => {
    expect(coloured.state('FAILED')).toBe('\x1b[1;31mFAILED\x1b[0m');
    expect(plain.state('FAILED')).toBe('FAILED');
    const line = `ab${coloured.state('FINISHED')}cd`;
    expect(visibleLength(line)).toBe(12);
    expect(clipLine(line, 5)).toBe('ab\x1b[32mFIN\x1b[0m');
    expect(clipLine('plain text', 5)).toBe('plain');
  });
});

describe('summaryLine', () => {
  it('gives the state, counts by state, elapsed time and the ETA counted down from the last write', () => {
    expect(summaryLine(summary(), plain, t0 + 70_000)).toBe(
      'State: RUNNING | 4 instances: FINISHED 1, RUNNING 1, FAILED 1, INITIALIZED 1 | elapsed 1m10s | ETA 20s',
    );
  });

  it('stops the clock when the study ended', () => {
    const s = summary({ state: 'FAILURE', counts: { FINISHED: 3, FAILED: 1 } });
    expect(summaryLine(s, plain, t0 + 3_600_000)).toBe(
      'State: FAILURE | 4 instances: FINISHED 3, FAILED 1 | elapsed 1m00s | ETA --',
    );
  });
});

describe('renderStudyStatus', () => {
  const rows = [
    row('a_X.1', 'FINISHED', 'X:1'),
    row('a_X.2', 'FAILED', 'X:2'),
    row('b_X.1', 'RUNNING'),
    row('b_X.2', 'INITIALIZED'),
  ];
  const base = { name: 'demo', root: '/r', summary: summary(), state: 'RUNNING', rows };
  const opts = { palette: plain, layout: 'flat' as const, failedOnly: false, now: t0 + 60_000 };

  it('prints the flat table with the State column coloured on a terminal', () => {
    const text = renderStudyStatus(base, { ...opts, palette: coloured }).join('\n');
    expect(text).toContain('\x1b[1;31mFAILED');
    const flat = renderStudyStatus(base, opts);
    expect(flat[2]).toMatch(/^Step Name\s+Job ID\s+Workspace\s+State/);
    expect(flat.join('\n')).not.toContain('\x1b[');
  });

  it('prints a card per instance in the narrow layout, with its parameters', () => {
    const text = renderStudyStatus(base, { ...opts, layout: 'narrow' }).join('\n');
    expect(text).toContain('STEP:      a_X.2\nWORKSPACE: a/X.2\n  State            FAILED');
    expect(text).toContain('  Parameters       X:2');
  });

  it('shows per-step bars instead of a table that would not fit', () => {
    const text = renderStudyStatus(base, { ...opts, maxRows: 2 });
    expect(text).toContain('  a [##########xxxxxxxxxx] 2/2  FINISHED 1, FAILED 1');
    expect(text.at(-1)).toContain('4 instances: the whole table with maestro status /r');
  });

  it('shows only failed instances, with exit codes and the end of their error output', () => {
    const tails = new Map([['a_X.2', { lines: ['Traceback', 'ValueError: bad input'], truncated: true }]]);
    const text = renderStudyStatus({ ...base, tails }, { ...opts, failedOnly: true });
    expect(text.slice(2)).toEqual([
      '1 failed instance:',
      '',
      'a_X.2  FAILED  exit code 3  a/X.2  2026-01-01 10:00:02',
      '  | ...',
      '  | Traceback',
      '  | ValueError: bad input',
    ]);
  });

  it('says when nothing failed, and when a failed instance never ran', () => {
    const ok = renderStudyStatus({ ...base, rows: [row('a_X.1', 'FINISHED')] }, { ...opts, failedOnly: true });
    expect(ok.at(-1)).toBe('No failed instances.');
    const upstream = renderStudyStatus(
      {
        ...base,
        rows: [row('b_X.1', 'FAILED')],
        summary: summary({ failures: [{ name: 'b_X.1', state: 'FAILED', exitCode: null, attempt: 0, err: null }] }),
      },
      { ...opts, failedOnly: true },
    );
    expect(upstream.at(-1)).toBe('b_X.1  FAILED  never ran: a step it depends on failed  b/X.1  2026-01-01 10:00:02');
  });
});
