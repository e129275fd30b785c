import { describe, expect, it } from 'vitest';
import {
  duration,
  formatStatusRow,
  parseCsvRecords,
  parseStatusCsv,
  STATUS_CSV_HEADER,
  timestamp,
} from '../src/status-csv.js';

const local = (ms: number): string => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};

describe('status.csv rows', () => {
  it("has the original's eleven columns, '--' for what has not happened", () => {
    const row = formatStatusRow({
      name: 'sim_N.1',
      jobId: undefined,
      workspace: 'sim/N.1',
      state: 'INITIALIZED',
      submitMs: undefined,
      startMs: undefined,
      endMs: undefined,
      restarts: 0,
      params: { N: '1' },
    });
    expect(row).toBe('sim_N.1,--,sim/N.1,INITIALIZED,--,--,--,--,--,0,N:1');
    expect(row.split(',')).toHaveLength(STATUS_CSV_HEADER.split(',').length);
  });

  it('quotes the name, workspace and parameters when they hold commas or quotes', () => {
    const t0 = Date.UTC(2026, 11, 2, 10, 0, 0);
    const row = formatStatusRow({
      name: 'a,b',
      jobId: '4242',
      workspace: 'w/"x"',
      state: 'FINISHED',
      submitMs: t0,
      startMs: t0 + 1_500,
      endMs: t0 + 3_723_000,
      restarts: 2,
      params: { Z: '1,2', A: 'q' },
    });
    expect(row).toBe(
      `"a,b",4242,"w/""x""",FINISHED,0d:01h:02m:02s,0d:01h:02m:03s,${local(t0 + 1_500)},${local(t0)},` +
        `${local(t0 + 3_723_000)},2,"A:q;Z:1,2"`,
    );
  });

  it('formats durations and timestamps of many rows alike, cached or not', () => {
    expect(duration(0, 400)).toBe('0d:00h:00m:00s');
    expect(duration(0, 90_061_000)).toBe('1d:01h:01m:01s');
    const t0 = Date.UTC(2026, 0, 1);
    // Seconds in an order that reuses and overwrites the cache's slots.
    for (const k of [0, 1, 0, 9, 1, 17, 0, 8, 16, 3]) expect(timestamp(t0 + k * 1000 + 999)).toBe(local(t0 + k * 1000));
    expect(timestamp(undefined)).toBe('--');
  });
});

describe('reading status.csv back', () => {
  const row = (name: string, params: Record<string, string> = {}): string =>
    formatStatusRow({
      name,
      jobId: '7',
      workspace: `ws/${name}`,
      state: 'FINISHED',
      submitMs: undefined,
      startMs: undefined,
      endMs: undefined,
      restarts: 0,
      params,
    });

  it('gives back every field as written, quotes, commas and line breaks included', () => {
    const names = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'crlf\r\nin it'];
    const text = [STATUS_CSV_HEADER, ...names.map((n) => row(n, { P: 'x,y' }))].join('\n') + '\n';
    const rows = parseStatusCsv(text);
    expect(rows.map((r) => r['Step Name'])).toEqual(names);
    expect(rows.map((r) => r.Workspace)).toEqual(names.map((n) => `ws/${n}`));
    expect(rows.every((r) => r.Params === 'P:x,y' && r.State === 'FINISHED')).toBe(true);
  });

  it('reads CRLF line ends, skips blank lines, and gives missing fields as empty', () => {
    const rows = parseStatusCsv(`${STATUS_CSV_HEADER}\r\n\r\nshort,1\r\n`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!['Step Name']).toBe('short');
    expect(rows[0]!['Job ID']).toBe('1');
    expect(rows[0]!.Params).toBe('');
  });

  it('keeps an empty quoted field as a record of its own', () => {
    expect(parseCsvRecords('""\nx\n')).toEqual([[''], ['x']]);
  });
});
