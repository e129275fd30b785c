/**
 * One frame of `maestro status --watch` on a terminal: everything fitted to the window, so that a
 * frame redrawn from the top never scrolls. Per study: its name, the summary (wrapped, not cut,
 * so the ETA stays in sight), a bar per step, then as many instance rows as fit, running and
 * failed ones first, and a line counting the rest. A window too small for that says so.
 *
 * Pure: the caller reads the files and the terminal's size, and draws the lines.
 */
import type { StatusCsvRow } from '@maestro/protocol';
import { clipLine, visibleLength, type Palette } from './colour.js';
import { formatCount } from './count.js';
import { formatDuration } from './duration.js';
import { conductorText, stepLines, summaryLine, type StudyStatusInput } from './view.js';

export interface WatchFrameOptions {
  readonly palette: Palette;
  /** The terminal's columns and rows. */
  readonly width: number;
  readonly height: number;
  readonly now: number;
  /** The first line: what is watched, and when. */
  readonly header: string;
}

/** Below these, a frame says the window is too small instead of drawing a part of it. */
export const MIN_WIDTH = 30;
export const MIN_HEIGHT = 5;

/** The lines of a frame: at most `height`, each at most `width - 1` columns (see {@link fit}). */
export function renderWatchFrame(studies: readonly StudyStatusInput[], o: WatchFrameOptions): string[] {
  const { width, height, palette: p } = o;
  const needed = 2 + 3 * studies.length;
  if (width < MIN_WIDTH || height < Math.max(MIN_HEIGHT, needed)) {
    const why = `terminal too small: ${width}x${height}, needs ${MIN_WIDTH}x${Math.max(MIN_HEIGHT, needed)};`;
    return wrapWords(`${why} enlarge it, or run maestro status without --watch`, width - 1).slice(0, height);
  }
  // Each study's fixed part: name, summary, a conductor that is gone; a blank line between studies.
  const heads = studies.map((s, k) => {
    const lines = [`${p.bold(s.name)} ${p.dim(`(${s.root})`)}`];
    const summary = s.summary ? summaryLine(s.summary, p, o.now, s.conductor) : `State: ${s.state}`;
    lines.push(...wrapSummary(summary, width - 1));
    const gone = conductorText(s, o.now);
    if (gone) lines.push(...wrapWords(gone, width - 1).map((l) => p.state('FAILED', l)));
    return k > 0 ? ['', ...lines] : lines;
  });
  const fixed = heads.reduce((n, h) => n + h.length, 0);
  let spare = height - 2 - fixed;
  const frame = [o.header, ''];
  studies.forEach((s, k) => {
    // What is left is shared evenly among the studies still to draw.
    const share = Math.max(0, Math.floor(spare / (studies.length - k)));
    const body = studyBody(s, share, width, o);
    spare -= body.length;
    frame.push(...heads[k]!, ...body);
  });
  return fit(width, frame).slice(0, height);
}

/** Every line cut to `width - 1` columns: a full last column would make some terminals wrap. */
function fit(width: number, lines: readonly string[]): string[] {
  return lines.map((l) => clipLine(l, Math.max(1, width - 1)));
}

/** Plain text broken between words into lines of at most `width` (longer words are cut). */
function wrapWords(text: string, width: number): string[] {
  const room = Math.max(1, width);
  const out: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    const next = current ? `${current} ${word}` : word;
    if (next.length <= room) current = next;
    else {
      if (current) out.push(current);
      current = word.slice(0, room);
    }
  }
  if (current) out.push(current);
  return out;
}

/** The summary line broken at its ` | ` separators so that no part is cut off. */
export function wrapSummary(line: string, width: number): string[] {
  const parts = line.split(' | ');
  const out: string[] = [];
  let current = '';
  for (const part of parts) {
    const next = current ? `${current} | ${part}` : part;
    if (!current || visibleLength(next) <= width) current = next;
    else {
      out.push(current);
      current = `  ${part}`;
    }
  }
  out.push(current);
  return out;
}

/** Step bars and instance rows of one study, in at most `room` lines. */
function studyBody(s: StudyStatusInput, room: number, width: number, o: WatchFrameOptions): string[] {
  const p = o.palette;
  const out: string[] = [];
  if (s.summary && s.summary.steps.length > 0 && room >= 4) {
    // Bars get at most a third of the room when steps are many: instance rows are what people look for.
    const bars = stepLines(s.summary, p);
    const most = bars.length === 1 ? 1 : Math.max(1, Math.floor(room / 3));
    if (bars.length <= most) out.push(...bars);
    else {
      out.push(...bars.slice(0, most - 1));
      out.push(p.dim(`  ... ${formatCount(bars.length - (most - 1), 'more step')}`));
    }
  }
  const left = room - out.length;
  if (s.rows.length === 0) return out;
  if (left < 2) {
    if (left === 1) out.push(p.dim(`  (${formatCount(s.rows.length, 'instance')}: a taller window shows them)`));
    return out;
  }
  // Rows of a study nobody conducts stopped running when its conductor did, as far as anyone knows.
  const clock = s.conductor?.state === 'gone' ? (s.conductor.lastSeenMs ?? o.now) : o.now;
  out.push(...instanceTable(s.rows, left, width - 1, o.palette, clock));
  return out;
}

/** Running first, then failed, then the ones about to run, then the rest; each in study order. */
function rankOf(state: string): number {
  switch (state) {
    case 'RUNNING':
    case 'FINISHING':
      return 0;
    case 'FAILED':
    case 'TIMEDOUT':
      return 1;
    case 'PENDING':
    case 'QUEUED':
    case 'PREEMPTED':
      return 2;
    default:
      return 3;
  }
}

const RANKS = 4;

/** The rows to show: the first `count` in rank order (one pass: a study may have a million rows). */
export function pickRows(rows: readonly StatusCsvRow[], count: number): StatusCsvRow[] {
  const picked: StatusCsvRow[][] = Array.from({ length: RANKS }, () => []);
  // Rank r can only use the room ranks before it leave; stop collecting a rank once it is full.
  for (const r of rows) {
    const bucket = picked[rankOf(r.State)]!;
    if (bucket.length < count) bucket.push(r);
  }
  return picked.flat().slice(0, count);
}

interface Column {
  readonly title: string;
  readonly value: (r: StatusCsvRow) => string;
}

/** `0d:01h:02m:03s` (status.csv) as `1h02m`; `--` stays. */
function shortDuration(text: string): string {
  const m = /^(\d+)d:(\d\d)h:(\d\d)m:(\d\d)s$/.exec(text);
  if (!m) return text;
  const [d, h, min, s] = m.slice(1).map(Number) as [number, number, number, number];
  return formatDuration((((d * 24 + h) * 60 + min) * 60 + s) * 1000);
}

/** `YYYY-MM-DD HH:MM:SS` in local time (status.csv's form), as epoch ms. */
function parseLocal(text: string): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s).getTime();
}

/** Columns after name and state, most useful first; as many as the width allows are shown. */
function optionalColumns(now: number): Column[] {
  return [
    {
      title: 'Run Time',
      // A running row has no run time in status.csv yet: count it from its start.
      value: (r) => {
        const start = r['End Time'] === '--' ? parseLocal(r['Start Time']) : undefined;
        return start !== undefined ? formatDuration(Math.max(0, now - start)) : shortDuration(r['Run Time']);
      },
    },
    { title: 'Restarts', value: (r) => r['Number Restarts'] },
    { title: 'Job ID', value: (r) => r['Job ID'] },
    { title: 'Start Time', value: (r) => r['Start Time'] },
    { title: 'End Time', value: (r) => r['End Time'] },
    { title: 'Workspace', value: (r) => r.Workspace },
  ];
}

/** Names are cut to this many columns at the least before a column is given up for them. */
const MIN_NAME = 16;

/** The table header, rows in rank order, and a line counting those left out, in `room` lines. */
function instanceTable(rows: readonly StatusCsvRow[], room: number, width: number, p: Palette, now: number): string[] {
  const all = rows.length <= room - 1;
  const shown = pickRows(rows, all ? rows.length : room - 2);
  const stateWidth = Math.max(5, ...shown.map((r) => r.State.length));
  const nameWidth = Math.max(9, ...shown.map((r) => r['Step Name'].length));
  // Take optional columns in order while they fit beside a name of at least MIN_NAME columns.
  const columns: { column: Column; width: number; cells: string[] }[] = [];
  let used = Math.min(nameWidth, MIN_NAME) + 2 + stateWidth;
  for (const column of optionalColumns(now)) {
    const cells = shown.map(column.value);
    const w = Math.max(column.title.length, ...cells.map((c) => c.length));
    if (used + 2 + w > width) break;
    columns.push({ column, width: w, cells });
    used += 2 + w;
  }
  const nameRoom = Math.max(4, Math.min(nameWidth, width - (used - Math.min(nameWidth, MIN_NAME))));
  const cut = (name: string): string =>
    name.length <= nameRoom ? name.padEnd(nameRoom) : `${name.slice(0, nameRoom - 3)}...`;
  const line = (name: string, state: string, cells: string[], styled: boolean): string =>
    [
      cut(name),
      styled ? p.state(state, state.padEnd(stateWidth)) : state.padEnd(stateWidth),
      ...cells.map((c, k) => c.padEnd(columns[k]!.width)),
    ]
      .join('  ')
      .trimEnd();
  const out = [
    p.dim(
      line(
        'Step Name',
        'State',
        columns.map((c) => c.column.title),
        false,
      ),
    ),
  ];
  shown.forEach((r, k) =>
    out.push(
      line(
        r['Step Name'],
        r.State,
        columns.map((c) => c.cells[k]!),
        true,
      ),
    ),
  );
  if (!all) {
    const hidden = new Map<string, number>();
    const seen = new Set(shown);
    for (const r of rows) if (!seen.has(r)) hidden.set(r.State, (hidden.get(r.State) ?? 0) + 1);
    const counts = [...hidden].map(([state, n]) => p.state(state, `${state} ${n}`)).join(', ');
    out.push(p.dim(`  ... and ${rows.length - shown.length} more: `) + counts);
  }
  return out;
}
