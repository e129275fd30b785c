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

/** An aligned text table; `params` adds the Params column. */
export function formatStatusTable(rows: readonly StatusCsvRow[], options: { params?: boolean } = {}): string {
  const columns = options.params ? [...FLAT_COLUMNS, 'Params' as const] : FLAT_COLUMNS;
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, k) => c.padEnd(widths[k]!))
      .join('  ')
      .trimEnd();
  return [
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => r[c]))),
  ].join('\n');
}
