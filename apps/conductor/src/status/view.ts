/**
 * What `maestro status` prints for one study, from the files the conductor keeps in its folder
 * (status.csv, meta/status.json) and the tails of failed steps' `.err`: a summary line a person
 * reads at a glance, then the table (flat or narrow), per-step bars when the table would not fit,
 * or only the failed instances with their error output.
 */
import type { Palette } from './colour.js';
import type { FailureEntry, StatusJson } from './files.js';
import type { StatusCsvRow } from '@maestro/protocol';
import { formatNarrowStatus, formatStatusTable } from './table.js';
import { formatDuration } from './duration.js';
import { formatCount } from './count.js';
import { conductorNotice, type ConductorLiveness } from './liveness.js';

export interface StudyStatusInput {
  readonly name: string;
  readonly root: string;
  /** meta/status.json; undefined before the conductor first wrote it (or for a dry run). */
  readonly summary: StatusJson | undefined;
  /** Fallback state when there is no summary (DRYRUN, UNKNOWN). */
  readonly state: string;
  readonly rows: readonly StatusCsvRow[];
  /** A big study's rows were not read (or only its failed ones): counts per step instead of the table. */
  readonly rowsLeftOut?: boolean | undefined;
  /** Error output of failed instances by name (only with `failedOnly`). */
  readonly tails?: ReadonlyMap<string, { lines: string[]; truncated: boolean; problem?: string }>;
  /** Whether a conductor drives the study (judged only while it is RUNNING). */
  readonly conductor?: ConductorLiveness | undefined;
}

export interface StatusViewOptions {
  readonly palette: Palette;
  readonly layout: 'flat' | 'narrow';
  readonly failedOnly: boolean;
  readonly now: number;
  /** Most table rows to print; more become per-step bars (watch mode on a small terminal). */
  readonly maxRows?: number | undefined;
}

const FINAL = ['FINISHED', 'FAILED', 'TIMEDOUT', 'CANCELLED'];
const ORDER = ['FINISHED', 'RUNNING', 'PENDING', 'FAILED', 'TIMEDOUT', 'CANCELLED', 'PREEMPTED', 'INITIALIZED'];

/** Study states after which nothing changes. */
export function isEndedState(state: string): boolean {
  return state === 'FINISHED' || state === 'FAILURE' || state === 'CANCELLED' || state === 'DRYRUN';
}

function orderedCounts(counts: Readonly<Record<string, number>>): [string, number][] {
  const rank = (s: string): number => (ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length);
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => rank(a) - rank(b));
}

/**
 * `State: RUNNING | 13 instances: FINISHED 5, RUNNING 3, FAILED 1 | elapsed 1m02s | ETA 30s`.
 * A study nobody conducts is `RUNNING (no conductor)`, its clock stopped at the conductor's last
 * sign of life, and it has no ETA.
 */
export function summaryLine(
  s: StatusJson,
  palette: Palette,
  now: number,
  conductor?: ConductorLiveness | undefined,
): string {
  const counts = orderedCounts(s.counts)
    .map(([k, v]) => palette.state(k, `${k} ${v}`))
    .join(', ');
  const started = Date.parse(s.startedAt);
  const ended = isEndedState(s.state);
  const gone = !ended && conductor?.state === 'gone';
  const until = ended ? Date.parse(s.updatedAt) : gone ? (conductor.lastSeenMs ?? Date.parse(s.updatedAt)) : now;
  const elapsed = Number.isFinite(started) ? formatDuration(Math.max(0, until - started)) : '--';
  let eta = '--';
  if (!ended && !gone && s.etaMs !== null && s.etaMs !== undefined) {
    // status.json is rewritten about once a second; count down from when it was written.
    const since = Math.max(0, now - Date.parse(s.updatedAt));
    const left = (ms: number): string => formatDuration(Math.max(0, ms - since));
    eta = left(s.etaMs);
    // From the steps' run times: how sure, as the range nine runs in ten fall in.
    if (typeof s.etaLowMs === 'number' && typeof s.etaHighMs === 'number' && s.etaHighMs > s.etaLowMs) {
      const low = left(s.etaLowMs);
      const high = left(s.etaHighMs);
      if (low !== high) eta += ` (${low}-${high})`;
    }
  }
  const state = gone ? palette.state('FAILED', `${s.state} (no conductor)`) : palette.state(s.state);
  return `State: ${state} | ${formatCount(s.total, 'instance')}: ${counts || 'none'} | elapsed ${elapsed} | ETA ${eta}`;
}

/** What to tell under a study's summary when nobody conducts it: who last did, and how to go on. */
export function conductorText(study: StudyStatusInput, now: number): string | undefined {
  const notice = conductorNotice(study.conductor, study.root, now);
  return notice && `${notice.charAt(0).toUpperCase()}${notice.slice(1)}`;
}

/** Share of its walltime a step's p90 run time may reach before `status` warns. */
export const WALLTIME_WARNING_SHARE = 0.8;

/**
 * A warning for each step whose p90 run time (of at least 3 runs) is within 20% of its walltime:
 * a tenth of its instances already come close, and the next may time out.
 */
export function walltimeWarnings(s: StatusJson): string[] {
  const out: string[] = [];
  for (const step of s.steps) {
    const rt = step.runtime;
    const wall = step.walltimeMs;
    if (!rt || !wall || rt.runs < 3 || rt.p90Ms < WALLTIME_WARNING_SHARE * wall) continue;
    out.push(
      `warning: ${step.name}: 1 run in 10 takes ${formatDuration(rt.p90Ms)} or more (longest ${formatDuration(rt.maxMs)}), ` +
        `within 20% of its walltime ${formatDuration(wall)}; raise walltime: before instances time out`,
    );
  }
  return out;
}

/** One line per spec step: a bar and its counts. */
export function stepLines(s: StatusJson, palette: Palette): string[] {
  const width = Math.max(...s.steps.map((x) => x.name.length), 1);
  return s.steps.map((x) => {
    const done = FINAL.reduce((n, k) => n + (x.counts[k] ?? 0), 0);
    const cells = 20;
    let bar = '';
    let used = 0;
    for (const [state, n] of orderedCounts(x.counts)) {
      if (!FINAL.includes(state) && state !== 'RUNNING') continue;
      const w = Math.round((n / Math.max(1, x.total)) * cells);
      const take = Math.min(w, cells - used);
      bar += palette.state(state, (state === 'RUNNING' ? '>' : state === 'FINISHED' ? '#' : 'x').repeat(take));
      used += take;
    }
    bar += '.'.repeat(cells - used);
    const counts = orderedCounts(x.counts)
      .map(([k, v]) => palette.state(k, `${k} ${v}`))
      .join(', ');
    return `  ${x.name.padEnd(width)} [${bar}] ${String(done).padStart(String(x.total).length)}/${x.total}  ${counts}`;
  });
}

function styleCell(palette: Palette) {
  return (column: keyof StatusCsvRow, value: string, padded: string): string =>
    column === 'State' ? palette.state(value, padded) : padded;
}

export function renderStudyStatus(study: StudyStatusInput, o: StatusViewOptions): string[] {
  const p = o.palette;
  const lines = [`${p.bold(study.name)} ${p.dim(`(${study.root})`)}`];
  const s = study.summary;
  lines.push(s ? summaryLine(s, p, o.now, study.conductor) : `State: ${study.state}`);
  if (s?.stoppedBy) lines.push(p.state('FAILED', `Stopped: ${s.stoppedBy}`));
  if (s?.state === 'STOPPED' && s.stoppedBecause) lines.push(p.state('PREEMPTED', `Stopped: ${s.stoppedBecause}`));
  const gone = conductorText(study, o.now);
  if (gone) lines.push(p.state('FAILED', gone));
  if (s && !isEndedState(s.state)) for (const w of walltimeWarnings(s)) lines.push(p.state('TIMEDOUT', w));
  if (o.failedOnly) {
    return lines.concat(renderFailures(study, o)); // push(...) would overflow on 100k failures
  }
  if (s && study.rowsLeftOut) {
    lines.push(...stepLines(s, p));
    const csv = `${study.root}/status.csv`;
    lines.push(p.dim(`  (${formatCount(s.total, 'instance')}: every row is in ${csv}, the failed ones with --failed)`));
    return lines;
  }
  if (o.maxRows !== undefined && study.rows.length > o.maxRows && s) {
    lines.push(...stepLines(s, p));
    lines.push(
      p.dim(`  (${formatCount(study.rows.length, 'instance')}: the whole table with maestro status ${study.root})`),
    );
    return lines;
  }
  const style = styleCell(p);
  lines.push(
    o.layout === 'narrow'
      ? formatNarrowStatus(study.rows, { style })
      : formatStatusTable(study.rows, { params: false, style }),
  );
  return lines;
}

function renderFailures(study: StudyStatusInput, o: StatusViewOptions): string[] {
  const p = o.palette;
  const failed = study.rows.filter((r) => r.State === 'FAILED' || r.State === 'TIMEDOUT');
  if (failed.length === 0) return ['No failed instances.'];
  const entries = new Map<string, FailureEntry>((study.summary?.failures ?? []).map((f) => [f.name, f]));
  const total = Math.max(failed.length, study.rowsLeftOut ? (study.summary?.failedTotal ?? 0) : 0);
  const shown = total > failed.length ? ` (the first ${failed.length})` : '';
  const out = [`${formatCount(total, 'failed instance')}${shown}:`];
  for (const r of failed) {
    const f = entries.get(r['Step Name']);
    const what =
      f?.attempt === 0
        ? 'never ran: a step it depends on failed'
        : f
          ? f.exitCode === null
            ? 'no exit code (killed by a signal)'
            : `exit code ${f.exitCode}`
          : '';
    out.push('');
    out.push(
      [
        p.bold(r['Step Name']),
        p.state(r.State),
        what,
        p.dim(r.Workspace),
        r['End Time'] !== '--' ? p.dim(r['End Time']) : '',
      ]
        .filter(Boolean)
        .join('  '),
    );
    if (f?.attempt === 0) continue;
    const tail = study.tails?.get(r['Step Name']);
    if (!tail) continue;
    if (tail.problem) out.push(p.dim(`  (no error output: ${tail.problem})`));
    else if (tail.lines.length === 0) out.push(p.dim('  (nothing on standard error)'));
    else {
      if (tail.truncated) out.push(p.dim('  | ...'));
      for (const l of tail.lines) out.push(`  ${p.dim('|')} ${l}`);
    }
  }
  return out;
}
