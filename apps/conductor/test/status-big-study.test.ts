/**
 * `maestro status` on a study too big for a table: counts per step instead of rows, failed rows
 * read line by line from status.csv (quoted line breaks included), at most a page of them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATUS_CSV_HEADER, parseStatusCsv } from '@maestro/protocol';
import { makePalette } from '../src/status/colour.js';
import { readStatusCsvRows } from '../src/status/csv-rows.js';
import type { StatusJson } from '../src/status/files.js';
import { renderStudyStatus } from '../src/status/view.js';
import { formatStatusTable } from '../src/status/table.js';

const line = (name: string, state: string, params = 'N:1') =>
  `${name},--,s/${name},${state},--,--,--,--,--,0,${params}`;

function csvRoot(rows: string[]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'maestro-big-status-'));
  writeFileSync(path.join(root, 'status.csv'), `${STATUS_CSV_HEADER}\n${rows.join('\n')}\n`);
  return root;
}

describe('readStatusCsvRows', () => {
  it('keeps the rows asked for, up to the limit, across quoted line breaks', async () => {
    const root = csvRoot([
      line('s_1', 'FINISHED'),
      line('s_2', 'FAILED', '"N:a\nb"'),
      line('s_3', 'FINISHED'),
      line('s_4', 'TIMEDOUT'),
      line('s_5', 'FAILED'),
    ]);
    const failed = await readStatusCsvRows(root, {
      keep: (r) => r.State === 'FAILED' || r.State === 'TIMEDOUT',
      mayKeep: (t) => !t.includes(',FINISHED,'),
      limit: 2,
    });
    expect(failed.map((r) => [r['Step Name'], r.State, r.Params])).toEqual([
      ['s_2', 'FAILED', 'N:a\nb'],
      ['s_4', 'TIMEDOUT', 'N:1'],
    ]);
    expect((await readStatusCsvRows(root, { limit: 10 })).map((r) => r['Step Name'])).toEqual([
      's_1',
      's_2',
      's_3',
      's_4',
      's_5',
    ]);
  });

  it('has no rows without a file', async () => {
    expect(await readStatusCsvRows(mkdtempSync(path.join(tmpdir(), 'maestro-no-csv-')), { limit: 5 })).toEqual([]);
  });
});

it('shows counts per step, not a table, when the rows were left out', () => {
  const summary = {
    id: 's',
    name: 'big',
    root: '/r',
    state: 'RUNNING',
    total: 10_000_000,
    counts: { FINISHED: 4_000_000, INITIALIZED: 6_000_000 },
    running: 0,
    queued: 0,
    ratePerSec: 0,
    etaMs: null,
    startedAt: new Date(0).toISOString(),
    updatedAt: new Date(1000).toISOString(),
    steps: [{ name: 's', total: 10_000_000, counts: { FINISHED: 4_000_000, INITIALIZED: 6_000_000 } }],
    failedTotal: 0,
  } satisfies StatusJson;
  const lines = renderStudyStatus(
    { name: 'big', root: '/r', summary, state: 'RUNNING', rows: [], rowsLeftOut: true },
    { palette: makePalette(false), layout: 'flat', failedOnly: false, now: 1000 },
  );
  expect(lines.join('\n')).toContain('4000000/10000000');
  expect(lines.at(-1)).toContain('every row is in /r/status.csv');
  expect(lines.join('\n')).not.toContain('Step Name');
});

it('prints a table of more rows than one call can take as arguments (a study without a status.json count)', () => {
  const row = parseStatusCsv(`${STATUS_CSV_HEADER}\n${line('s_0', 'FINISHED')}\n`)[0]!;
  const rows = Array.from({ length: 300_000 }, (_, k) => ({ ...row, 'Step Name': `s_${k}` }));
  const table = formatStatusTable(rows).split('\n');
  expect(table).toHaveLength(300_002);
  expect(table.at(-1)).toMatch(/^s_299999 +--/);
});
