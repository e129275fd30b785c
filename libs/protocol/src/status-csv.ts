/**
 * `status.csv`: the study's instances, one row each, in the original Maestro's columns so that
 * users' scripts keep working. Writer: the conductor (its status files, and the dry run's
 * skeleton). Readers: `maestro status`, the dashboard, users' scripts. Unlike the original, fields
 * that hold commas, quotes or line breaks are quoted (RFC 4180) and parameters are sorted by key;
 * the reader parses the whole text, so a quoted line break stays inside its field.
 */
export const STATUS_CSV_HEADER =
  'Step Name,Job ID,Workspace,State,Run Time,Elapsed Time,Start Time,Submit Time,End Time,Number Restarts,Params';

export interface StatusRow {
  readonly name: string;
  readonly jobId: string | undefined;
  /** Relative to the study root. */
  readonly workspace: string;
  readonly state: string;
  /** Epoch milliseconds, or undefined when it has not happened. */
  readonly submitMs: number | undefined;
  readonly startMs: number | undefined;
  readonly endMs: number | undefined;
  readonly restarts: number;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * One row. Only the name, the workspace and the parameters can hold a comma or a quote; the
 * other fields have fixed forms and go in as they are (a big study writes millions of rows).
 */
export function formatStatusRow(row: StatusRow): string {
  return (
    `${csvField(row.name)},${row.jobId ?? '--'},${csvField(row.workspace)},${row.state},` +
    `${duration(row.startMs, row.endMs)},${duration(row.submitMs, row.endMs)},` +
    `${timestamp(row.startMs)},${timestamp(row.submitMs)},${timestamp(row.endMs)},` +
    `${row.restarts},${csvField(formatParams(row.params))}`
  );
}

/** `P:v;Q:w`, keys sorted. */
export function formatParams(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${k}:${params[k]}`)
    .join(';');
}

const NEEDS_QUOTES = /[",\n\r]/;

function csvField(s: string): string {
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Maestro's `0d:00h:00m:01s`, or `--`. */
export function duration(fromMs: number | undefined, toMs: number | undefined): string {
  if (fromMs === undefined || toMs === undefined) return '--';
  let s = Math.max(0, Math.round((toMs - fromMs) / 1000));
  if (s === 0) return '0d:00h:00m:00s'; // most rows of a study of short steps
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d}d:${p(h)}h:${p(m)}m:${p(s)}s`;
}

/** The texts of the last few seconds formatted, by second modulo their number. */
const TIMESTAMP_CACHE = 8;
const cachedSecond = new Float64Array(TIMESTAMP_CACHE).fill(-1);
const cachedText: string[] = new Array<string>(TIMESTAMP_CACHE).fill('');

/**
 * `YYYY-MM-DD HH:MM:SS` local time, or `--`. Rows of a big study share seconds (a row's submit,
 * start and end are seconds apart), so the last few are cached.
 */
export function timestamp(ms: number | undefined): string {
  if (ms === undefined) return '--';
  const second = Math.floor(ms / 1000);
  const slot = second % TIMESTAMP_CACHE;
  if (cachedSecond[slot] === second) return cachedText[slot]!;
  const d = new Date(second * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  const text = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  cachedSecond[slot] = second;
  cachedText[slot] = text;
  return text;
}

/** A row as read back: each column by its header name. */
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

/**
 * The rows of a whole `status.csv` text, keyed by its header. Records end at a line break outside
 * quotes (`\n` or `\r\n`); blank records are skipped; a missing field reads as ''.
 */
export function parseStatusCsv(text: string): StatusCsvRow[] {
  const records = parseCsvRecords(text);
  const names = records[0] ?? [];
  const rows: StatusCsvRow[] = [];
  for (let r = 1; r < records.length; r++) {
    const fields = records[r]!;
    const row: Record<string, string> = {};
    for (let k = 0; k < names.length; k++) row[names[k]!] = fields[k] ?? '';
    rows.push(row as unknown as StatusCsvRow);
  }
  return rows;
}

/** RFC 4180 records of a text: fields split on commas and line breaks outside quotes. */
export function parseCsvRecords(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let blank = true; // nothing seen yet in this record
  const endRecord = (): void => {
    if (!blank) records.push([...fields, field]);
    fields = [];
    field = '';
    blank = true;
  };
  for (let k = 0; k < text.length; k++) {
    const ch = text[k]!;
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (text[k + 1] === '"') {
        field += '"';
        k++;
      } else quoted = false;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      blank = false;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      blank = false;
    } else if (ch === '\n') endRecord();
    else if (ch === '\r' && text[k + 1] === '\n') {
      endRecord();
      k++;
    } else {
      field += ch;
      blank = false;
    }
  }
  endRecord();
  return records;
}
