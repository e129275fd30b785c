/** Reading `status.csv` back and printing it as the original's status table. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface StatusCsvRow {
  'Step Name': string;
  'Job ID': string;
  Workspace: string;
  State: string;
  'Run Time': string;
  'Elapsed Time': string;
  'Start Time': string;
  'Submit Time': string;
  'End Time': string;
  'Number Restarts': string;
  Params: string;
}

/** Splits one CSV line (RFC 4180 quoting). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let k = 0; k < line.length; k++) {
    const ch = line[k]!;
    if (quoted) {
      if (ch === '"' && line[k + 1] === '"') {
        field += '"';
        k++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

export async function readStatusCsv(root: string): Promise<StatusCsvRow[]> {
  const text = await readFile(path.join(root, 'status.csv'), 'utf8');
  const [header, ...lines] = text.split('\n').filter((l) => l.length > 0);
  const names = parseCsvLine(header ?? '');
  return lines.map((l) => {
    const fields = parseCsvLine(l);
    return Object.fromEntries(names.map((n, k) => [n, fields[k] ?? ''])) as unknown as StatusCsvRow;
  });
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
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
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
