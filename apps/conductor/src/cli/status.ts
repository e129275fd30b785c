/** `maestro status STUDY_DIR [--json]`: the status table, while a study runs and after. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { StudyStateName } from '@maestro/protocol';
import type { StatusJson } from '../status-files.js';
import { metaDir } from '../study-meta.js';
import { openStudy } from '../study-session.js';
import { formatStatusTable, readStatusCsv } from '../status-table.js';

export interface StatusOptions {
  json?: boolean;
  layout?: 'flat' | 'narrow';
}

export async function statusCommand(dirs: string[], options: StatusOptions, out: Writable): Promise<number> {
  const all: unknown[] = [];
  for (const dir of dirs) {
    const meta = await openStudy(dir);
    const rows = await readStatusCsv(meta.root).catch(() => []);
    const summary = await readSummary(meta.root);
    if (options.json) {
      all.push({
        study: summary ?? { id: meta.id, name: meta.name, root: meta.root, state: meta.dryRun ? 'DRYRUN' : 'UNKNOWN' },
        steps: rows,
      });
      continue;
    }
    out.write(`${meta.name} (${meta.root})\n`);
    if (summary) out.write(`${summaryLine(summary)}\n`);
    out.write(`${formatStatusTable(rows, { params: options.layout === 'narrow' })}\n`);
  }
  if (options.json) out.write(`${JSON.stringify(dirs.length === 1 ? all[0] : all, null, 2)}\n`);
  return 0;
}

async function readSummary(root: string): Promise<StatusJson | undefined> {
  try {
    return JSON.parse(await readFile(path.join(metaDir(root), 'status.json'), 'utf8')) as StatusJson;
  } catch {
    return undefined;
  }
}

export function summaryLine(s: StatusJson): string {
  const counts = Object.entries(s.counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `State: ${s.state} | ${s.total} instances: ${counts}`;
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
    out.write(`(${summary.total} instances: see maestro status ${root})\n`);
  }
  out.write(`Study ${state}: ${root}\n`);
}
