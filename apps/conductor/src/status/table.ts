/** Reading `status.csv` back and printing it as the original's status table. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseStatusCsv, type StatusCsvRow } from '@maestro/protocol';

/** The rows of the study's `status.csv`. */
export async function readStatusCsv(root: string): Promise<StatusCsvRow[]> {
  return parseStatusCsv(await readFile(path.join(root, 'status.csv'), 'utf8'));
}

const FLAT_COLUMNS: (keyof StatusCsvRow)[] = [
  'Step Name',
  'Job ID',
  'Workspace',
  'State',
  'Run Time',
  'Elapsed Time',
  'Start Time',
  'Submit Time',
  'End Time',
  'Number Restarts',
];

export interface TableOptions {
  /** Add the Params column. */
  params?: boolean;
  /** Styles a padded cell (colour); widths are measured before styling. */
  style?: (column: keyof StatusCsvRow, value: string, padded: string) => string;
}

/** An aligned text table in the original's columns. */
export function formatStatusTable(rows: readonly StatusCsvRow[], options: TableOptions = {}): string {
  const columns = options.params ? [...FLAT_COLUMNS, 'Params' as const] : FLAT_COLUMNS;
  // A reduce, not Math.max(...): a table can have more rows than a call can take arguments.
  const widths = columns.map((c) => rows.reduce((w, r) => Math.max(w, r[c].length), c.length));
  const style = options.style;
  const line = (cells: string[], styled: boolean): string =>
    cells
      .map((c, k) => {
        const padded = k === cells.length - 1 ? c : c.padEnd(widths[k]!);
        return styled && style ? style(columns[k]!, c, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [
    line(columns, false),
    line(
      widths.map((w) => '-'.repeat(w)),
      false,
    ),
    ...rows.map((r) =>
      line(
        columns.map((c) => r[c]),
        true,
      ),
    ),
  ].join('\n');
}

/** Maestro's narrow layout: a card per instance, its fields one per line (fits any terminal). */
export function formatNarrowStatus(rows: readonly StatusCsvRow[], options: Pick<TableOptions, 'style'> = {}): string {
  const keys: (keyof StatusCsvRow)[] = [
    'State',
    'Job ID',
    'Run Time',
    'Elapsed Time',
    'Submit Time',
    'Start Time',
    'End Time',
    'Number Restarts',
  ];
  const width = Math.max(...keys.map((k) => k.length), 'Parameters'.length);
  const cards = rows.map((r) => {
    const lines = [`STEP:      ${r['Step Name']}`, `WORKSPACE: ${r.Workspace}`];
    for (const k of keys) {
      const value = options.style ? options.style(k, r[k], r[k]) : r[k];
      lines.push(`  ${k.padEnd(width)}  ${value}`);
    }
    if (r.Params) lines.push(`  ${'Parameters'.padEnd(width)}  ${r.Params.split(';').join('  ')}`);
    return lines.join('\n');
  });
  const rule = '-'.repeat(40);
  return cards.length ? cards.map((c) => `${rule}\n${c}`).join('\n') : '(no step instances)';
}
