/**
 * `maestro status STUDY_DIR... [--json] [--layout flat|narrow] [--failed] [--watch]`: the status
 * table, while a study runs and after, read from the files the conductor keeps in its folder (so
 * it works without Redis). Colour only on a terminal; `--watch` redraws in place until every study
 * has ended. A study still RUNNING is checked for a live conductor (its heartbeat, its process,
 * its lease when the study's Redis answers): one nobody conducts says so and how to resume it.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { StudyStateName, StatusCsvRow } from '@maestro/protocol';
import { safePathComponent } from '@maestro/spec';
import { makePalette, shouldColour, type ColourChoice } from '../status/colour.js';
import { analyseByParam, describeStandout, formatByParam, samplesFromStatusRows } from '../status/by-param.js';
import { readTail, type FileTail } from '../status/file-tail.js';
import { formatCount } from '../status/count.js';
import type { StatusJson } from '../status/files.js';
import type { ConductorLiveness } from '../status/liveness.js';
import type { ConductorProbe } from '../status/liveness-probe.js';
import { isEndedState, renderStudyStatus, type StudyStatusInput } from '../status/view.js';
import { watchStatus, type WatchOutput } from '../status/watch.js';
import { metaDir, type StudyMeta } from '../study/meta.js';
import { openStudy } from '../study/session.js';
import { formatStatusTable, readStatusCsv } from '../status/table.js';
import { readStatusCsvRows } from '../status/csv-rows.js';

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
  /** Failures by parameter value instead of the table. */
  byParam?: boolean;
}

export async function statusCommand(
  dirs: string[],
  options: StatusOptions,
  out: WatchOutput,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const metas = await Promise.all(dirs.map((d) => openStudy(d)));
  const conductors = new Conductors(env);
  try {
    return await showStatus(metas, dirs, options, out, env, conductors);
  } finally {
    conductors.close();
  }
}

async function showStatus(
  metas: StudyMeta[],
  dirs: string[],
  options: StatusOptions,
  out: WatchOutput,
  env: Readonly<Record<string, string | undefined>>,
  conductors: Conductors,
): Promise<number> {
  if (options.byParam) return showByParam(metas, options, out, env);
  if (options.json) {
    const all = await Promise.all(metas.map((m) => jsonOf(m, options, conductors)));
    out.write(`${JSON.stringify(dirs.length === 1 ? all[0] : all, null, 2)}\n`);
    return 0;
  }
  const colour = shouldColour(options.disableTheme ? 'never' : (options.color ?? 'auto'), out, env);
  const palette = makePalette(colour);
  const layout = options.layout ?? 'flat';
  const failedOnly = options.failed === true;
  if (!options.watch) {
    const now = Date.now();
    const text: string[] = [];
    for (const meta of metas) {
      if (text.length) text.push('');
      const study = await readStudyStatus(meta, options, conductors, now);
      // A loop, not push(...): a study's table can have more rows than a call can take arguments.
      for (const line of renderStudyStatus(study, { palette, layout, failedOnly, now })) text.push(line);
    }
    out.write(`${text.join('\n')}\n`);
    return 0;
  }
  const csvCache = new Map<string, CsvCache>();
  return watchStatus({
    out,
    intervalMs: options.interval ?? 2000,
    dirs,
    palette,
    layout,
    failedOnly,
    read: async (now) => {
      const studies = await Promise.all(metas.map((m) => readStudyStatus(m, options, conductors, now, csvCache)));
      const ended = studies.every((s) => isEndedState(s.summary?.state ?? s.state));
      return { studies, ended };
    },
  });
}

/** `--by-param`: per study, the parameter values whose failures stand out, then a table per parameter. */
async function showByParam(
  metas: StudyMeta[],
  options: StatusOptions,
  out: WatchOutput,
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const reports = await Promise.all(
    metas.map(async (meta) => {
      const rows = await readStatusCsv(meta.root).catch((): StatusCsvRow[] => []);
      const summary = await readSummary(meta.root);
      return {
        meta,
        state: summary?.state ?? (meta.dryRun ? 'DRYRUN' : 'UNKNOWN'),
        report: analyseByParam(samplesFromStatusRows(rows)),
      };
    }),
  );
  if (options.json) {
    const all = reports.map(({ meta, state, report }) => ({
      study: { name: meta.name, root: meta.root, state },
      ...report,
      findings: report.standouts.map(describeStandout),
    }));
    out.write(`${JSON.stringify(all.length === 1 ? all[0] : all, null, 2)}\n`);
    return 0;
  }
  const palette = makePalette(shouldColour(options.disableTheme ? 'never' : (options.color ?? 'auto'), out, env));
  const text: string[] = [];
  for (const { meta, state, report } of reports) {
    if (text.length) text.push('');
    text.push(
      palette.bold(`${meta.name} (${state}): ${formatCount(report.instances, 'instance')}, ${report.failed} failed`),
      ...formatByParam(report, palette),
    );
  }
  out.write(`${text.join('\n')}\n`);
  return 0;
}

/** status.csv as last read, kept while the file is unchanged (a big study's takes a while to parse). */
interface CsvCache {
  readonly mtimeMs: number;
  readonly size: number;
  readonly rows: StatusCsvRow[];
}

/** The study's rows, read again only when status.csv changed since `cache` last held them. */
async function readRows(root: string, cache: Map<string, CsvCache> | undefined): Promise<StatusCsvRow[]> {
  const file = path.join(root, 'status.csv');
  const st = await stat(file).catch(() => undefined);
  if (!st) return [];
  const known = cache?.get(root);
  if (known && known.mtimeMs === st.mtimeMs && known.size === st.size) return known.rows;
  const rows = await readStatusCsv(root).catch((): StatusCsvRow[] => []);
  cache?.set(root, { mtimeMs: st.mtimeMs, size: st.size, rows });
  return rows;
}

/**
 * Whether a conductor drives each study, judged only for studies still RUNNING in their files;
 * what judges it (status/liveness-probe.ts, with ioredis) is loaded only then.
 */
class Conductors {
  readonly #probes = new Map<string, Promise<ConductorProbe>>();

  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  async check(meta: StudyMeta, summary: StatusJson | undefined, now: number): Promise<ConductorLiveness | undefined> {
    if (summary?.state !== 'RUNNING') return undefined;
    let probe = this.#probes.get(meta.root);
    if (!probe) {
      const url = this.env['MAESTRO_REDIS_URL'];
      const fromEnv = url
        ? {
            url,
            passwordFile: this.env['MAESTRO_REDIS_PASSWORD_FILE'],
            sentinelPasswordFile: this.env['MAESTRO_SENTINEL_PASSWORD_FILE'],
            tlsCaFile: this.env['MAESTRO_REDIS_TLS_CA_FILE'],
          }
        : undefined;
      probe = import('../status/liveness-probe.js').then(
        (m) => new m.ConductorProbe(meta, m.studyRedisTarget(meta, fromEnv)),
      );
      this.#probes.set(meta.root, probe);
    }
    return (await probe).check(summary, now);
  }

  close(): void {
    for (const probe of this.#probes.values()) void probe.then((p) => p.close());
  }
}

/**
 * Above this many instances status.csv is not read whole (ten million rows are 700 MB of text):
 * the table becomes counts per step, and --failed and --json read the file line by line for
 * the rows they show, BIG_STUDY_SHOWN at most.
 */
const BIG_STUDY_ROWS = 100_000;
const BIG_STUDY_SHOWN = 1000;

function isBigStudy(summary: StatusJson | undefined): summary is StatusJson {
  return summary !== undefined && summary.total > BIG_STUDY_ROWS;
}

const isFailedRow = (r: StatusCsvRow): boolean => r.State === 'FAILED' || r.State === 'TIMEDOUT';

/** A big study's failed rows, the first BIG_STUDY_SHOWN: none read when status.json counts none. */
function readFailedRows(root: string, summary: StatusJson): Promise<StatusCsvRow[]> {
  return readStatusCsvRows(root, {
    keep: isFailedRow,
    mayKeep: (text) => text.includes(',FAILED,') || text.includes(',TIMEDOUT,'),
    limit: Math.min(BIG_STUDY_SHOWN, summary.failedTotal ?? BIG_STUDY_SHOWN),
  });
}

async function readStudyStatus(
  meta: StudyMeta,
  options: StatusOptions,
  conductors: Conductors,
  now: number,
  csvCache?: Map<string, CsvCache>,
): Promise<StudyStatusInput> {
  const summary = await readSummary(meta.root);
  const big = isBigStudy(summary);
  let rows: StatusCsvRow[] = [];
  if (!big) rows = await readRows(meta.root, csvCache);
  else if (options.failed) rows = await readFailedRows(meta.root, summary);
  const study: StudyStatusInput = {
    name: meta.name,
    root: meta.root,
    summary,
    state: meta.dryRun ? 'DRYRUN' : 'UNKNOWN',
    rows,
    rowsLeftOut: big,
    conductor: await conductors.check(meta, summary, now),
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
    if (!isFailedRow(r)) continue;
    const f = known.get(r['Step Name']);
    if (f?.attempt === 0) continue;
    const rel =
      f?.err ??
      (meta.options.hashWorkspaces ? undefined : path.join(r.Workspace, `${safePathComponent(r['Step Name'])}.err`));
    if (rel) tails.set(r['Step Name'], await readTail(path.join(meta.root, rel), lines, meta.root));
  }
  return tails;
}

/**
 * `--json`: the summary and the rows (`steps`), or the failed rows with `--failed`. A big study's
 * rows are the first BIG_STUDY_SHOWN (of those asked for), with how many there are in all.
 */
async function jsonOf(meta: StudyMeta, options: StatusOptions, conductors: Conductors): Promise<unknown> {
  const summary = await readSummary(meta.root);
  let rows: StatusCsvRow[];
  let total: { rowsShown: number; rowsTotal: number } | undefined;
  if (isBigStudy(summary)) {
    rows = options.failed
      ? await readFailedRows(meta.root, summary)
      : await readStatusCsvRows(meta.root, { limit: BIG_STUDY_SHOWN });
    const rowsTotal = options.failed ? (summary.failedTotal ?? rows.length) : summary.total;
    total = { rowsShown: rows.length, rowsTotal };
  } else rows = await readStatusCsv(meta.root).catch((): StatusCsvRow[] => []);
  const study = summary ?? { id: meta.id, name: meta.name, root: meta.root, state: meta.dryRun ? 'DRYRUN' : 'UNKNOWN' };
  const conductor = conductorJson(await conductors.check(meta, summary, Date.now()), meta.root);
  if (!options.failed) return { study, steps: rows, ...total, conductor };
  const tails = await failureTails(meta, rows, summary, options.tail ?? 10);
  const entries = new Map((summary?.failures ?? []).map((f) => [f.name, f]));
  const failed = rows
    .filter(isFailedRow)
    .map((r) => ({ ...r, failure: entries.get(r['Step Name']) ?? null, errTail: tails.get(r['Step Name']) ?? null }));
  return { study, failed, ...total, conductor };
}

/**
 * `--json`'s `conductor`: null for a study that ended (or has no status yet); else whether a
 * conductor runs it (`running`: true, false, or null when that cannot be told), the last one's
 * host and pid, when it was last seen alive if it is gone, what told, and the command that continues it.
 */
function conductorJson(c: ConductorLiveness | undefined, root: string): unknown {
  if (!c) return null;
  return {
    running: c.state === 'unknown' ? null : c.state === 'running',
    host: c.host ?? null,
    pid: c.pid ?? null,
    lastSeenAt: c.lastSeenMs === undefined ? null : new Date(c.lastSeenMs).toISOString(),
    evidence: c.evidence,
    resume: c.state === 'gone' ? `maestro resume ${root}` : null,
  };
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
    const why = summary?.stoppedBecause;
    if (why) out.write(`Stopped: ${why}\n`);
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
  if (summary?.stoppedBy) out.write(`Stopped: ${summary.stoppedBy}\n`);
}
