/**
 * status.csv read line by line, keeping only some rows: a big study's file is too long to read
 * whole (ten million rows are 700 MB of text, more than a V8 string holds, and as row objects
 * several gigabytes), and `maestro status` only shows a page of it or its failed rows.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseCsvRecords, type StatusCsvRow } from '@maestro/protocol';

/** What to keep of status.csv. */
export interface RowFilter {
  /** Whether a row is kept. @default every row */
  readonly keep?: ((row: StatusCsvRow) => boolean) | undefined;
  /** A cheap test of a record's text first: false skips it unparsed. @default every record */
  readonly mayKeep?: ((text: string) => boolean) | undefined;
  /** Reading stops once this many rows are kept. */
  readonly limit: number;
}

/** Reads the study's status.csv row by row, up to `limit` kept rows; a missing file has no rows. */
export async function readStatusCsvRows(root: string, filter: RowFilter): Promise<StatusCsvRow[]> {
  const rows: StatusCsvRow[] = [];
  if (filter.limit <= 0) return rows;
  let names: string[] | undefined;
  let record = '';
  const input = createReadStream(path.join(root, 'status.csv'), { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      // A quoted field may hold a line break: the record goes on until its quotes pair up.
      record = record ? `${record}\n${line}` : line;
      if (countQuotes(record) % 2 !== 0) continue;
      const text = record;
      record = '';
      if (names && filter.mayKeep && !filter.mayKeep(text)) continue;
      const fields = parseCsvRecords(text)[0];
      if (!fields) continue;
      if (!names) {
        names = fields;
        continue;
      }
      const row: Record<string, string> = {};
      for (let k = 0; k < names.length; k++) row[names[k]!] = fields[k] ?? '';
      if (filter.keep && !filter.keep(row as unknown as StatusCsvRow)) continue;
      rows.push(row as unknown as StatusCsvRow);
      if (rows.length >= filter.limit) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    lines.close();
    input.destroy();
  }
  return rows;
}

function countQuotes(text: string): number {
  let n = 0;
  for (let k = text.indexOf('"'); k >= 0; k = text.indexOf('"', k + 1)) n++;
  return n;
}
