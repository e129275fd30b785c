/**
 * The conductor mirrors study state to files in the study root, so that `maestro status` and
 * scripts can read it while the study runs and after: `status.csv` (Maestro's columns) and
 * `meta/status.json` (counts, per step, for people and tools). Writes are atomic (rename) and
 * spaced so that a million-instance study does not spend its time rewriting them.
 */
import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StepState, stepStateName } from '@maestro/protocol';
import type { Conductor } from './conductor/conductor.js';
import { formatStatusRow, STATUS_CSV_HEADER } from './status-csv.js';

export interface StatusJson {
  id: string;
  name: string;
  root: string;
  state: string;
  total: number;
  counts: Record<string, number>;
  running: number;
  queued: number;
  ratePerSec: number;
  etaMs: number | null;
  startedAt: string;
  updatedAt: string;
  steps: { name: string; total: number; counts: Record<string, number> }[];
  /** FAILED and TIMEDOUT instances, in index order, the first {@link MAX_FAILURES_LISTED} of them. */
  failures?: FailureEntry[];
  /** How many instances are FAILED or TIMEDOUT in all. */
  failedTotal?: number;
}

/** A failed instance as `maestro status --failed` shows it. */
export interface FailureEntry {
  name: string;
  state: string;
  /** Exit code of its last run; null when it never ran or was killed by a signal. */
  exitCode: number | null;
  /** 0 when it never ran (a step it depends on failed). */
  attempt: number;
  /** Its standard error, relative to the study root; null when it never ran. */
  err: string | null;
}

export const MAX_FAILURES_LISTED = 1000;

export function statusJson(c: Conductor, id: string, now = Date.now()): StatusJson {
  const p = c.progress();
  const x = c.expanded;
  const r = c.records;
  const failures: FailureEntry[] = [];
  let failedTotal = 0;
  const steps = x.steps.map((s) => {
    const counts: Record<string, number> = {};
    for (let k = 0; k < s.instanceCount; k++) {
      const i = s.firstInstance + k;
      const code = r.state(i);
      const name = stepStateName(code);
      counts[name] = (counts[name] ?? 0) + 1;
      if (code !== StepState.FAILED && code !== StepState.TIMEDOUT) continue;
      if (failedTotal++ >= MAX_FAILURES_LISTED) continue;
      const rec = r.record(i);
      const inst = rec.attempt > 0 ? x.instance(i) : undefined;
      failures.push({
        name: x.instanceName(i),
        state: name,
        exitCode: rec.endMs > 0 && rec.exitCode !== -1 ? rec.exitCode : null,
        attempt: rec.attempt,
        err: inst ? path.join(inst.workspace, `${inst.fileName}.err`) : null,
      });
    }
    return { name: s.name, total: s.instanceCount, counts };
  });
  return {
    id,
    name: x.name,
    root: x.root,
    state: p.state,
    total: p.total,
    counts: { ...p.counts },
    running: p.running,
    queued: p.queued,
    ratePerSec: Number(p.ratePerSec.toFixed(3)),
    etaMs: p.etaMs === undefined ? null : Math.round(p.etaMs),
    startedAt: new Date(p.startedMs).toISOString(),
    updatedAt: new Date(now).toISOString(),
    steps,
    failures,
    failedTotal,
  };
}

export class StatusFiles {
  #lastWrite = 0;
  #lastCost = 0;
  #writing: Promise<void> | undefined;
  #pending = false;

  constructor(
    private readonly root: string,
    private readonly studyId: string,
  ) {}

  /** Writes soon; at most one write at a time, spaced by 20x the time the last one took (>= 1 s). */
  changed(c: Conductor): void {
    this.#pending = true;
    if (this.#writing) return;
    const due = this.#lastWrite + Math.max(1000, this.#lastCost * 20) - Date.now();
    if (due > 0) {
      setTimeout(() => this.changed(c), due).unref();
      return;
    }
    this.#writing = this.write(c).finally(() => {
      this.#writing = undefined;
    });
  }

  /** Writes now (the end of a study), after any write under way. */
  async flush(c: Conductor): Promise<void> {
    await this.#writing;
    await this.write(c);
  }

  async write(c: Conductor): Promise<void> {
    this.#pending = false;
    const t0 = Date.now();
    const metaDir = path.join(this.root, 'meta');
    const json = path.join(metaDir, 'status.json');
    await writeFile(`${json}.tmp`, `${JSON.stringify(statusJson(c, this.studyId), null, 2)}\n`);
    await rename(`${json}.tmp`, json);
    const csv = path.join(this.root, 'status.csv');
    const f = await open(`${csv}.tmp`, 'w');
    try {
      const x = c.expanded;
      const r = c.records;
      let chunk = `${STATUS_CSV_HEADER}\n`;
      for (let i = 0; i < x.instanceCount; i++) {
        const inst = x.instance(i);
        const rec = r.record(i);
        chunk += `${formatStatusRow({
          name: inst.name,
          jobId: rec.pid ? String(rec.pid) : undefined,
          workspace: inst.workspace,
          state: stepStateName(rec.state),
          submitMs: rec.submitMs || undefined,
          startMs: rec.state === StepState.PENDING ? undefined : rec.startMs || undefined,
          endMs: rec.endMs || undefined,
          restarts: rec.restarts,
          params: inst.params,
        })}\n`;
        if (chunk.length > 1 << 16) {
          await f.write(chunk);
          chunk = '';
        }
      }
      await f.write(chunk);
    } finally {
      await f.close();
    }
    await rename(`${csv}.tmp`, csv);
    this.#lastWrite = Date.now();
    this.#lastCost = this.#lastWrite - t0;
  }
}
