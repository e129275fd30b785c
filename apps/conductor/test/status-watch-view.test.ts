/** `maestro status --watch` frames: fitted to the window, instance rows first for what runs and failed. */
import { describe, expect, it } from 'vitest';
import type { StatusCsvRow } from '@maestro/protocol';
import { makePalette } from '../src/status/colour.js';
import type { StatusJson } from '../src/status/files.js';
import type { ConductorLiveness } from '../src/status/liveness.js';
import type { StudyStatusInput } from '../src/status/view.js';
import { pickRows, renderWatchFrame, wrapSummary } from '../src/status/watch-view.js';

const plain = makePalette(false);
const t0 = Date.parse('2026-01-01T10:00:00Z');

function row(name: string, state: string): StatusCsvRow {
  const running = state === 'RUNNING';
  return {
    'Step Name': name,
    'Job ID': running ? '--' : '42',
    Workspace: name.replace('_', '/'),
    State: state,
    'Run Time': running || state === 'PENDING' ? '--' : '0d:00h:01m:05s',
    'Elapsed Time': '--',
    'Start Time': state === 'PENDING' ? '--' : '2026-01-01 10:00:01',
    'Submit Time': '2026-01-01 10:00:00',
    'End Time': running || state === 'PENDING' ? '--' : '2026-01-01 10:01:06',
    'Number Restarts': '0',
    Params: '',
  };
}

/** 40 instances of step `work`: 10 finished, 5 failed, 3 running, 22 pending, in that order. */
function study(name = 'demo', root = '/r'): StudyStatusInput {
  const states = [
    ...Array<string>(10).fill('FINISHED'),
    ...Array<string>(5).fill('FAILED'),
    ...Array<string>(3).fill('RUNNING'),
    ...Array<string>(22).fill('PENDING'),
  ];
  const rows = states.map((s, k) => row(`work_N.${k + 1}`, s));
  const summary: StatusJson = {
    id: 's',
    name,
    root,
    state: 'RUNNING',
    total: 40,
    counts: { FINISHED: 10, FAILED: 5, RUNNING: 3, PENDING: 22 },
    running: 3,
    queued: 22,
    ratePerSec: 0.5,
    etaMs: 60_000,
    startedAt: new Date(t0).toISOString(),
    updatedAt: new Date(t0 + 60_000).toISOString(),
    steps: [{ name: 'work', total: 40, counts: { FINISHED: 10, FAILED: 5, RUNNING: 3, PENDING: 22 } }],
  };
  return { name, root, summary, state: 'RUNNING', rows };
}

const frame = (studies: StudyStatusInput[], width: number, height: number) =>
  renderWatchFrame(studies, {
    palette: plain,
    width,
    height,
    now: t0 + 70_000,
    header: 'Every 2s: maestro status /r',
  });

describe('renderWatchFrame', () => {
  it('fits 80x24: header, summary, the bar, then running and failed instances first, and a count of the rest', () => {
    const lines = frame([study()], 80, 24);
    expect(lines).toHaveLength(24);
    expect(lines.every((l) => l.length <= 79)).toBe(true);
    expect(lines.slice(0, 3)).toEqual(['Every 2s: maestro status /r', '', 'demo (/r)']);
    expect(lines[3]).toMatch(/^State: RUNNING \| 40 instances: FINISHED 10, RUNNING 3, PENDING 22, FAILED 5/);
    expect(lines.join('\n')).toContain('ETA 50s');
    const table = lines.findIndex((l) => l.startsWith('Step Name'));
    expect(lines[table]).toMatch(/^Step Name +State +Run Time +Restarts +Job ID/);
    const states = lines.slice(table + 1, -1).map((l) => l.split(/ +/)[1]);
    expect(states.slice(0, 8)).toEqual([...Array(3).fill('RUNNING'), ...Array(5).fill('FAILED')]);
    expect(states.slice(8).every((s) => s === 'PENDING')).toBe(true);
    // A running instance's time counts from its start: status.csv has none for it yet.
    expect(lines[table + 1]).toMatch(/^work_N\.16 +RUNNING +1m09s +0 +--/);
    expect(lines.at(-1)).toMatch(/^ {2}\.\.\. and \d+ more: FINISHED 10, PENDING \d+$/);
  });

  it('shows every instance and more columns when the window is large enough', () => {
    const lines = frame([study()], 200, 50);
    expect(lines.filter((l) => l.startsWith('work_N.'))).toHaveLength(40);
    expect(lines.find((l) => l.startsWith('Step Name'))).toMatch(/Start Time +End Time +Workspace$/);
    expect(lines.some((l) => l.includes('more:'))).toBe(false);
  });

  it('says the window is too small rather than drawing part of it', () => {
    expect(frame([study()], 20, 4)).toEqual([
      'terminal too small:',
      '20x4, needs 30x5;',
      'enlarge it, or run',
      'maestro status',
    ]);
    expect(frame([study()], 100, 3)[0]).toContain('terminal too small: 100x3, needs 30x5;');
    expect(frame([study(), study('two', '/t')], 100, 7)[0]).toContain('needs 30x8');
  });

  it('tells how many instances a window with room for the summary only hides', () => {
    const lines = frame([study()], 80, 6);
    expect(lines.at(-1)).toBe('  (40 instances: a taller window shows them)');
  });

  it('shares the room among studies, and says under its summary that nobody conducts one', () => {
    const gone: ConductorLiveness = { state: 'gone', host: 'n1', pid: 7, lastSeenMs: t0 + 65_000, evidence: 'process' };
    const lines = frame([study(), { ...study('two', '/t'), conductor: gone }], 100, 30);
    expect(lines).toHaveLength(30);
    const second = lines.indexOf('two (/t)');
    expect(lines[second - 1]).toBe('');
    expect(lines[second + 1]).toMatch(/^State: RUNNING \(no conductor\) \| 40 instances: /);
    expect(lines[second + 2]).toBe('  elapsed 1m05s | ETA --');
    expect(lines[second + 3]).toMatch(
      /^Conductor not running since \d\d:\d\d:05 \(n1, pid 7\); continue the study with: maestro resume \/t$/,
    );
    const rows = (from: number, to: number) => lines.slice(from, to).filter((l) => l.startsWith('work_N.')).length;
    expect(Math.abs(rows(0, second) - rows(second, lines.length))).toBeLessThanOrEqual(1);
  });

  it('cuts long names rather than dropping the state', () => {
    const s = study();
    const long = { ...s, rows: s.rows.map((r) => ({ ...r, 'Step Name': `${'x'.repeat(60)}_${r['Step Name']}` })) };
    const lines = frame([long], 40, 12);
    expect(lines.every((l) => l.length <= 39)).toBe(true);
    expect(lines.find((l) => l.startsWith('xxx'))).toMatch(/^x+\.\.\. +RUNNING/);
  });
});

describe('wrapSummary', () => {
  it('breaks the summary at its separators', () => {
    expect(wrapSummary('State: RUNNING | 40 instances: FINISHED 10 | elapsed 1m | ETA 5s', 30)).toEqual([
      'State: RUNNING',
      '  40 instances: FINISHED 10',
      '  elapsed 1m | ETA 5s',
    ]);
  });
});

describe('pickRows', () => {
  it('takes running, failed, then waiting rows, each in study order, in one pass', () => {
    const rows = ['FINISHED', 'PENDING', 'FAILED', 'RUNNING', 'TIMEDOUT', 'RUNNING'].map((s, k) => row(`a${k}`, s));
    expect(pickRows(rows, 4).map((r) => r['Step Name'])).toEqual(['a3', 'a5', 'a2', 'a4']);
    expect(pickRows(rows, 10).map((r) => r.State)).toEqual([
      'RUNNING',
      'RUNNING',
      'FAILED',
      'TIMEDOUT',
      'PENDING',
      'FINISHED',
    ]);
  });
});
