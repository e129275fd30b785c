/**
 * A study's instance records rebuilt from status.csv for the dashboard without Redis: the
 * streaming CSV reader agrees with the protocol's whole-text parser however the text is cut, rows
 * become the packed records Redis would hold, and what is not a regular file is refused at once.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatStatusRow,
  parseCsvRecords,
  readStateRecord,
  STATUS_CSV_HEADER,
  StepState,
  type StatusRow,
} from '@maestro/protocol';
import { CsvRecords, parseCsvTime, readStatusRecords } from '../src/dashboard/status-records.js';

const dir = (): string => mkdtempSync(path.join(tmpdir(), 'maestro-status-records-'));

function recordsOf(text: string, cuts: number[]): string[][] {
  const out: string[][] = [];
  const parser = new CsvRecords((fields) => out.push(fields));
  let from = 0;
  for (const to of [...cuts, text.length]) {
    parser.push(text.slice(from, to));
    from = to;
  }
  parser.end();
  return out;
}

describe('CsvRecords', () => {
  const text =
    'a,"b ""quoted"", with comma",c\r\n' +
    '"line\nbreak",,"x"\n' +
    '\n' + // blank records are skipped
    'lone\rcr,"",end\r' +
    '\n' +
    'last,"unterminated at the end';

  it('reads what parseCsvRecords reads, wherever the text is cut', () => {
    const whole = parseCsvRecords(text);
    expect(whole).toHaveLength(4);
    expect(recordsOf(text, [])).toEqual(whole);
    for (let k = 1; k < text.length; k++) expect(recordsOf(text, [k]), `cut at ${k}`).toEqual(whole);
    expect(
      recordsOf(
        text,
        Array.from({ length: text.length - 1 }, (_, k) => k + 1),
      ),
    ).toEqual(whole);
  });
});

describe('readStatusRecords', () => {
  const t0 = new Date(2026, 0, 2, 3, 4, 5).getTime();
  const row = (over: Partial<StatusRow>): string =>
    formatStatusRow({
      name: 'x',
      jobId: undefined,
      workspace: 'x',
      state: 'INITIALIZED',
      submitMs: undefined,
      startMs: undefined,
      endMs: undefined,
      restarts: 0,
      params: {},
      ...over,
    });

  it('packs each row into the record Redis would hold, exit codes from status.json', async () => {
    const d = dir();
    const file = path.join(d, 'status.csv');
    writeFileSync(
      file,
      [
        STATUS_CSV_HEADER,
        row({ name: 'ok', jobId: '41', state: 'FINISHED', submitMs: t0, startMs: t0 + 1000, endMs: t0 + 3000 }),
        row({ name: 'bad, "really"', jobId: '42', state: 'FAILED', submitMs: t0, startMs: t0, endMs: t0, restarts: 2 }),
        row({ name: 'never', state: 'FAILED' }),
        row({ name: 'queued', state: 'PENDING', submitMs: t0 }),
        '',
      ].join('\n'),
    );
    const failures = new Map([
      ['bad, "really"', { exitCode: 3, attempt: 2 }],
      ['never', { exitCode: null, attempt: 0 }],
    ]);
    const bytes = await readStatusRecords(file, 5, failures);
    const [ok, bad, never, queued, missing] = [0, 1, 2, 3, 4].map((i) => readStateRecord(bytes, i));
    expect(ok).toMatchObject({
      state: StepState.FINISHED,
      pid: 41,
      exitCode: 0,
      attempt: 1,
      submitMs: t0,
      startMs: t0 + 1000,
      endMs: t0 + 3000,
      bundle: 0,
    });
    expect(bad).toMatchObject({ state: StepState.FAILED, pid: 42, exitCode: 3, attempt: 2, restarts: 2, bundle: 1 });
    expect(never).toMatchObject({ state: StepState.FAILED, startMs: 0, exitCode: -1, attempt: 0 });
    expect(queued).toMatchObject({ state: StepState.PENDING, submitMs: t0, startMs: 0, attempt: 0 });
    expect(missing).toMatchObject({ state: StepState.INITIALIZED, attempt: 0 }); // no row: as never started
  });

  it('reads nothing from a file that is missing, and refuses a FIFO without waiting for a writer', async () => {
    const d = dir();
    expect(Array.from(await readStatusRecords(path.join(d, 'none.csv'), 1, new Map()))).toEqual(
      Array.from(new Uint8Array(44)),
    );
    const fifo = path.join(d, 'status.csv');
    execFileSync('mkfifo', [fifo]);
    await expect(readStatusRecords(fifo, 1, new Map())).rejects.toThrow(/not a regular file/);
  });

  it("reads status.csv's local times back to the second", () => {
    expect(parseCsvTime('2026-01-02 03:04:05')).toBe(t0);
    expect(parseCsvTime('--')).toBe(0);
    expect(parseCsvTime('')).toBe(0);
  });
});
