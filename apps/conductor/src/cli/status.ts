/**
 * `maestro status STUDY_DIR... [--json] [--layout flat|narrow] [--failed] [--watch]`: the status
 * table, while a study runs and after, read from the files the conductor keeps in its folder (so
 * it works without Redis). Colour only on a terminal; `--watch` redraws in place until every study
 * has ended.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { StudyStateName, StatusCsvRow } from '@maestro/protocol';
import { safePathComponent } from '@maestro/spec';
import { clipLine, makePalette, shouldColour, type ColourChoice } from '../status/colour.js';
import { readTail, type FileTail } from '../status/file-tail.js';
import { formatCount } from '../status/count.js';
import type { StatusJson } from '../status/files.js';
import { isEndedState, renderStudyStatus, type StudyStatusInput } from '../status/view.js';
import { metaDir, type StudyMeta } from '../study/meta.js';
import { openStudy } from '../study/session.js';
import { formatStatusTable, readStatusCsv } from '../status/table.js';

export interface StatusOptions {
  json?: boolean;
  layout?: 'flat' | 'narrow';
  /** auto: colour on a terminal only. */
  color?: ColourChoice;
  /** The original's flag: no colour. */
  disableTheme?: boolean;
  /** Only FAILED and TIMEDOUT instances, with the tail of their standard error. */
  failed?: boolean;
  /** Lines of error output per failed instance. @default 10 */
  tail?: number;
  /** Redraw until every study has ended. */
  watch?: boolean;
  /** Time between redraws with --watch, in ms. @default 2000 */
  interval?: number;
}

/** What the terminal can show; process.stdout in real use. */
type Output = Writable & { isTTY?: boolean; columns?: number; rows?: number };

export async function statusCommand(
  dirs: string[],
  options: StatusOptions,
  out: Output,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const metas = await Promise.all(dirs.map((d) => openStudy(d)));
  if (options.json) {
    const all = await Promise.all(metas.map((m) => jsonOf(m, options)));
    out.write(`${JSON.stringify(dirs.length === 1 ? all[0] : all, null, 2)}\n`);
    return 0;
  }
  const colour = shouldColour(options.disableTheme ? 'never' : (options.color ?? 'auto'), out, env);
  const palette = makePalette(colour);
  const render = async (now: number, maxRows: number | undefined): Promise<{ text: string[]; ended: boolean }> => {
    const text: string[] = [];
    let ended = true;
    for (const meta of metas) {
      const study = await readStudyStatus(meta, options);
      if (text.length) text.push('');
      text.push(
        ...renderStudyStatus(study, {
          palette,
          layout: options.layout ?? 'flat',
          failedOnly: options.failed === true,
          now,
          maxRows,
        }),
      );
      ended &&= isEndedState(study.summary?.state ?? study.state);
    }
    return { text, ended };
  };
  if (!options.watch) {
    const { text } = await render(Date.now(), undefined);
    out.write(`${text.join('\n')}\n`);
    return 0;
  }
  return watch(render, out, options.interval ?? 2000, dirs);
}

/**
 * Redraws every `intervalMs` until all studies ended or SIGINT. On a terminal the frame is drawn
 * over the last one and cut to the window; elsewhere a frame is printed only when it changed.
 */
async function watch(
  render: (now: number, maxRows: number | undefined) => Promise<{ text: string[]; ended: boolean }>,
  out: Output,
  intervalMs: number,
  dirs: string[],
): Promise<number> {
  const tty = out.isTTY === true;
  let stop = false;
  let wake: (() => void) | undefined;
  const onSignal = (): void => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let last = '';
  try {
    if (tty) out.write('\x1b[?25l\x1b[2J'); // hide the cursor while redrawing; start on a clear screen
    for (;;) {
      const now = new Date();
      const rows = tty ? out.rows || 40 : undefined; // a pty may report 0 rows: unknown
      // Leave room for the header and summaries; more rows than that become per-step bars.
      const { text, ended } = await render(now.getTime(), rows === undefined ? 200 : Math.max(5, rows - 6));
      const header = `Every ${intervalMs / 1000}s: maestro status ${dirs.join(' ')}    ${now.toLocaleTimeString()}${ended ? '    (ended)' : ''}`;
      if (tty) {
        const width = Math.max(20, out.columns || 100);
        const frame = [header, '', ...text].slice(0, Math.max(1, (rows ?? 40) - 1));
        out.write(`\x1b[H${frame.map((l) => `${clipLine(l, width)}\x1b[K`).join('\n')}\n\x1b[J`);
      } else {
        // Into a file or pipe: a new frame only when something other than the clock moved.
        const body = text.join('\n');
        const key = body.replace(/ \| elapsed .*$/gm, '');
        if (key !== last) out.write(`${last ? '\n' : ''}${header}\n${body}\n`);
        last = key;
      }
      if (ended || stop) return 0;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs); // not unref'd: this wait is what keeps the process alive
      });
      if (stop) return 0;
    }
  } finally {
    if (tty) out.write('\x1b[?25h');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function readStudyStatus(meta: StudyMeta, options: StatusOptions): Promise<StudyStatusInput> {
  const rows = await readStatusCsv(meta.root).catch((): StatusCsvRow[] => []);
  const summary = await readSummary(meta.root);
  const study: StudyStatusInput = {
    name: meta.name,
    root: meta.root,
    summary,
    state: meta.dryRun ? 'DRYRUN' : 'UNKNOWN',
    rows,
  };
  if (!options.failed) return study;
  return { ...study, tails: await failureTails(meta, rows, summary, options.tail ?? 10) };
}

/** The end of each failed instance's `.err` (paths from status.json, else from the name). */
async function failureTails(
  meta: StudyMeta,
  rows: readonly StatusCsvRow[],
  summary: StatusJson | undefined,
  lines: number,
): Promise<Map<string, FileTail>> {
  const known = new Map((summary?.failures ?? []).map((f) => [f.name, f]));
  const tails = new Map<string, FileTail>();
  for (const r of rows) {
    if (r.State !== 'FAILED' && r.State !== 'TIMEDOUT') continue;
    const f = known.get(r['Step Name']);
    if (f?.attempt === 0) continue;
    const rel =
      f?.err ??
      (meta.options.hashWorkspaces ? undefined : path.join(r.Workspace, `${safePathComponent(r['Step Name'])}.err`));
    if (rel) tails.set(r['Step Name'], await readTail(path.join(meta.root, rel), lines, meta.root));
  }
  return tails;
}

async function jsonOf(meta: StudyMeta, options: StatusOptions): Promise<unknown> {
  const rows = await readStatusCsv(meta.root).catch((): StatusCsvRow[] => []);
  const summary = await readSummary(meta.root);
  const study = summary ?? { id: meta.id, name: meta.name, root: meta.root, state: meta.dryRun ? 'DRYRUN' : 'UNKNOWN' };
  if (!options.failed) return { study, steps: rows };
  const tails = await failureTails(meta, rows, summary, options.tail ?? 10);
  const entries = new Map((summary?.failures ?? []).map((f) => [f.name, f]));
  const failed = rows
    .filter((r) => r.State === 'FAILED' || r.State === 'TIMEDOUT')
    .map((r) => ({ ...r, failure: entries.get(r['Step Name']) ?? null, errTail: tails.get(r['Step Name']) ?? null }));
  return { study, failed };
}

async function readSummary(root: string): Promise<StatusJson | undefined> {
  try {
    return JSON.parse(await readFile(path.join(metaDir(root), 'status.json'), 'utf8')) as StatusJson;
  } catch {
    return undefined;
  }
}

const TABLE_LIMIT = 200;

/** What `maestro run` prints at the end: the table, or per-step counts for big studies. */
export async function printFinalStatus(root: string, state: StudyStateName, out: Writable): Promise<void> {
  const summary = await readSummary(root);
  if (state === 'RUNNING') {
    out.write(`Study stopped before its end. Continue it with: maestro resume ${root}\n`);
    return;
  }
  // Big studies get counts per step; reading their whole status.csv back would take a while.
  if (!summary || summary.total <= TABLE_LIMIT) {
    out.write(`${formatStatusTable(await readStatusCsv(root).catch(() => []))}\n`);
  } else {
    for (const s of summary.steps) {
      out.write(
        `${s.name}: ${Object.entries(s.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n`,
      );
    }
    out.write(`(${formatCount(summary.total, 'instance')}: see maestro status ${root})\n`);
  }
  out.write(`Study ${state}: ${root}\n`);
}
