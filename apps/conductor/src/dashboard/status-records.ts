/**
 * A study's instance records rebuilt from its folder, for a dashboard without Redis: status.csv
 * (a row per instance, in instance order: state, times, restarts, process id) packed into the
 * same 44-byte records Redis holds, so that everything the catalog computes works unchanged, and
 * meta/status.json for the study's own state and counts.
 *
 * status.csv of a big study is hundreds of megabytes, so it is parsed as it streams in (RFC 4180,
 * as @maestro/protocol writes it) and never held whole. Both files are opened without following a
 * link or blocking, and read only if they are regular files: whatever sits at those names, the
 * server must not hang on it.
 */
import { constants, type ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { STATE_RECORD_BYTES, StepState, writeStateRecord, type StepStateName } from '@maestro/protocol';
import type { StatusJson } from '../status/index.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What status.json says of a failed instance that status.csv does not. */
export interface FailureFacts {
  readonly exitCode: number | null;
  /** 0 when it never ran. */
  readonly attempt: number;
}

/** A regular file's text as it streams in, or undefined when there is none at `file`. */
async function openRegular(file: string): Promise<ReadStream | undefined> {
  let handle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new Error(`${file} is not a regular file`);
  }
  return handle.createReadStream({ encoding: 'utf8' });
}

/** meta/status.json, or undefined when the conductor has not written it yet. */
export async function readStatusJson(file: string): Promise<StatusJson | undefined> {
  const stream = await openRegular(file);
  if (!stream) return undefined;
  let text = '';
  for await (const chunk of stream) text += chunk as string;
  return JSON.parse(text) as StatusJson;
}

/** Epoch ms of status.csv's local `YYYY-MM-DD HH:MM:SS`; 0 for `--` or anything else. */
export function parseCsvTime(text: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
  if (!m) return 0;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s).getTime();
}

const COLUMNS = ['Step Name', 'Job ID', 'State', 'Start Time', 'Submit Time', 'End Time', 'Number Restarts'] as const;
type Column = (typeof COLUMNS)[number];

/**
 * `count` packed records from status.csv (zeroed, i.e. INITIALIZED, where it has no row). Exit
 * codes: 0 for FINISHED, and those status.json lists for failures (by instance name).
 */
export async function readStatusRecords(
  file: string,
  count: number,
  failures: ReadonlyMap<string, FailureFacts>,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(count * STATE_RECORD_BYTES);
  const stream = await openRegular(file);
  if (!stream) return bytes;
  let at: Record<Column, number> | undefined;
  let row = 0;
  const onRecord = (fields: string[]): void => {
    if (!at) {
      at = Object.fromEntries(COLUMNS.map((c) => [c, fields.indexOf(c)])) as Record<Column, number>;
      return;
    }
    if (row >= count) return;
    const get = (c: Column): string => fields[at![c]] ?? '';
    const state = StepState[get('State') as StepStateName] ?? StepState.UNKNOWN;
    const startMs = parseCsvTime(get('Start Time'));
    const failure = failures.get(get('Step Name'));
    const pid = Number(get('Job ID'));
    writeStateRecord(bytes, row, {
      state,
      restarts: Number(get('Number Restarts')) || 0,
      tries: 0,
      flags: 0,
      attempt: failure ? failure.attempt : startMs > 0 ? 1 : 0,
      submitMs: parseCsvTime(get('Submit Time')),
      startMs,
      endMs: parseCsvTime(get('End Time')),
      pid: Number.isInteger(pid) && pid > 0 ? pid : 0,
      exitCode: state === StepState.FINISHED ? 0 : (failure?.exitCode ?? -1),
      worker: 0,
      bundle: row,
    });
    row++;
  };
  const parser = new CsvRecords(onRecord);
  for await (const chunk of stream) parser.push(chunk as string);
  parser.end();
  return bytes;
}

/** RFC 4180 records from text that arrives in pieces: fields split on commas and line breaks outside quotes. */
export class CsvRecords {
  #fields: string[] = [];
  #field = '';
  #quoted = false;
  /** The last character was the closing quote of a quoted field (a quote next means a literal one). */
  #quoteEnded = false;
  #blank = true;
  #cr = false;

  constructor(private readonly onRecord: (fields: string[]) => void) {}

  push(text: string): void {
    for (let k = 0; k < text.length; k++) {
      const ch = text[k]!;
      if (this.#quoted) {
        if (ch === '"') {
          this.#quoted = false;
          this.#quoteEnded = true;
        } else this.#field += ch;
        continue;
      }
      if (this.#cr) {
        this.#cr = false;
        if (ch === '\n') {
          this.#endRecord();
          continue;
        }
        this.#field += '\r'; // a lone \r is text
        this.#blank = false;
      }
      if (this.#quoteEnded) {
        this.#quoteEnded = false;
        if (ch === '"') {
          this.#field += '"'; // "" inside quotes
          this.#quoted = true;
          continue;
        }
      }
      if (ch === '"') {
        this.#quoted = true;
        this.#blank = false;
      } else if (ch === ',') {
        this.#fields.push(this.#field);
        this.#field = '';
        this.#blank = false;
      } else if (ch === '\n') this.#endRecord();
      else if (ch === '\r')
        this.#cr = true; // a line break if \n follows
      else {
        this.#field += ch;
        this.#blank = false;
      }
    }
  }

  end(): void {
    if (this.#cr) {
      this.#field += '\r';
      this.#blank = false;
      this.#cr = false;
    }
    this.#endRecord();
  }

  #endRecord(): void {
    if (!this.#blank) this.onRecord([...this.#fields, this.#field]);
    this.#fields = [];
    this.#field = '';
    this.#blank = true;
  }
}
