/**
 * The conductor mirrors study state to files in the study root, so that `maestro status` and
 * scripts can read it while the study runs and after: `status.csv` (Maestro's columns) and
 * `meta/status.json` (counts, per step, for people and tools). Writes are atomic (rename) and
 * spaced so that a million-instance study does not spend its time rewriting them.
 *
 * status.json also carries the conductor's heartbeat (host, pid, time; rewritten every
 * {@link HEARTBEAT_MS} while nothing else changes), so that a study whose conductor died is told
 * from one that merely waits, without Redis (status/liveness.ts).
 */
import { rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { stepStateName, parseWalltimeSeconds } from '@maestro/protocol';
import type { Conductor } from '../conductor/index.js';
import { StatusCsvFile } from './status-csv-file.js';

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
  /** Where the time left falls nine times in ten, from the steps' run times; null without them. */
  etaLowMs?: number | null;
  etaHighMs?: number | null;
  startedAt: string;
  updatedAt: string;
  steps: StepStatusJson[];
  /** FAILED and TIMEDOUT instances, the first {@link MAX_FAILURES_LISTED} to fail. */
  failures?: FailureEntry[];
  /** STOPPED (written when the conductor stops short of the end, resumable): why. */
  stoppedBecause?: string;
  /** How many instances are FAILED or TIMEDOUT in all. */
  failedTotal?: number;
  /** The conductor that wrote the file: absent in files of older versions. */
  conductor?: ConductorHeartbeat;
  /** Why the study stopped itself (a step exited Merlin's HARD_FAIL), if it did. */
  stoppedBy?: string;
}

export interface StepStatusJson {
  name: string;
  total: number;
  counts: Record<string, number>;
  /** Run times of its finished instances so far (median and p90 to within 10%). */
  runtime?: { runs: number; medianMs: number; p90Ms: number; maxMs: number } | null;
  /** Its walltime when every instance has the same one; null without one. */
  walltimeMs?: number | null;
}

/** Who drives the study, and when it last said so (status.json's `conductor`). */
export interface ConductorHeartbeat {
  host: string;
  pid: number;
  /** ISO time of this write: the conductor was alive then. */
  heartbeatAt: string;
  /** Time between heartbeats while the conductor lives, in ms: readers derive "too old" from it. */
  heartbeatMs: number;
  /** ISO time the conductor stopped driving the study (its end, or Ctrl-C); absent while it drives. */
  stoppedAt?: string;
}

/** Time between two writes of status.json while nothing changes: the conductor's heartbeat. */
export const HEARTBEAT_MS = 5_000;

/** A failed instance as `maestro status --failed` shows it. */
export interface FailureEntry {
  name: string;
  state: string;
  /** Exit code of its last run; null when it never ran or was killed by a signal. */
  exitCode: number | null;
  /** 0 when it never ran (a step it depends on failed), though it may have been sent in a chain. */
  attempt: number;
  /** Its standard error, relative to the study root; null when it never ran. */
  err: string | null;
}

export const MAX_FAILURES_LISTED = 1000;

export function statusJson(c: Conductor, id: string, now = Date.now(), conductor?: ConductorHeartbeat): StatusJson {
  const p = c.progress();
  const x = c.expanded;
  const steps = x.steps.map((s, k) => {
    const counts: Record<string, number> = {};
    c.stepCounts(k).forEach((n, code) => {
      if (n > 0) counts[stepStateName(code)] = n;
    });
    const rt = c.stepRuntime(k);
    const runtime = rt
      ? { runs: rt.runs, medianMs: Math.round(rt.medianMs), p90Ms: Math.round(rt.p90Ms), maxMs: Math.round(rt.maxMs) }
      : null;
    return { name: s.name, total: s.instanceCount, counts, runtime, walltimeMs: walltimeMsOf(s.run.walltime) };
  });
  const r = c.records;
  const failures: FailureEntry[] = c.failedInstances().map((i) => {
    const rec = r.record(i);
    // Never started: a step it depends on failed, before it was sent or while it waited in its
    // parent's chain.
    const ran = rec.startMs > 0;
    const inst = ran ? x.describe(i) : undefined;
    return {
      name: x.instanceName(i),
      state: stepStateName(rec.state),
      exitCode: rec.endMs > 0 && rec.exitCode !== -1 ? rec.exitCode : null,
      attempt: ran ? rec.attempt : 0,
      err: inst ? path.join(inst.workspace, `${inst.fileName}.err`) : null,
    };
  });
  const failedTotal = (p.counts['FAILED'] ?? 0) + (p.counts['TIMEDOUT'] ?? 0);
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
    etaLowMs: p.etaRange ? Math.round(p.etaRange.lowMs) : null,
    etaHighMs: p.etaRange ? Math.round(p.etaRange.highMs) : null,
    startedAt: new Date(p.startedMs).toISOString(),
    updatedAt: new Date(now).toISOString(),
    steps,
    failures,
    failedTotal,
    ...(conductor ? { conductor } : {}),
    ...(c.stoppedBy === undefined ? {} : { stoppedBy: c.stoppedBy }),
  };
}

/** A step's walltime in ms when it is the same for every instance (no tokens); else null. */
function walltimeMsOf(value: unknown): number | null {
  if ((typeof value !== 'string' && typeof value !== 'number') || String(value).includes('$(')) return null;
  try {
    const s = parseWalltimeSeconds(value);
    return s === undefined ? null : s * 1000;
  } catch {
    return null;
  }
}

export class StatusFiles {
  #lastWrite = 0;
  #lastCost = 0;
  /** Every write goes through this chain: one at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  #scheduled = false;
  #closed = false;
  readonly #csv: StatusCsvFile;
  #heartbeat: NodeJS.Timeout | undefined;
  /** When status.json was last written (epoch ms). */
  #lastJson = 0;

  constructor(
    private readonly root: string,
    private readonly studyId: string,
    /** A failed background write (disk full, folder removed) is reported here; the study goes on. */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.#csv = new StatusCsvFile(path.join(root, 'status.csv'));
  }

  /** Writes soon: at most one write at a time, spaced by 20x the time the last one took (>= 1 s). */
  changed(c: Conductor): void {
    if (this.#closed) return;
    this.#startHeartbeat(c);
    if (this.#scheduled) return;
    this.#scheduled = true;
    const due = Math.max(0, this.#lastWrite + Math.max(1000, this.#lastCost * 20) - Date.now());
    setTimeout(() => {
      this.#scheduled = false;
      if (!this.#closed) this.#enqueue(c).catch(this.onError);
    }, due).unref();
  }

  /** Writes now (the end of a study), after any write under way; later changes are ignored. */
  async flush(c: Conductor): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await this.#enqueue(c);
  }

  /**
   * From the first change on, status.json is rewritten at least every HEARTBEAT_MS: a study
   * that waits (a long step, no worker) shows its conductor alive. Only the small file: the CSV
   * has nothing new. The timer is unref'd, and stops with flush().
   */
  #startHeartbeat(c: Conductor): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => {
      if (this.#closed || Date.now() - this.#lastJson < HEARTBEAT_MS - 500) return;
      this.#chain = this.#chain.then(
        () => this.#writeJson(c),
        () => this.#writeJson(c),
      );
      this.#chain.catch(this.onError);
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  async #writeJson(c: Conductor): Promise<void> {
    const now = Date.now();
    const conductor: ConductorHeartbeat = {
      host: hostname(),
      pid: process.pid,
      heartbeatAt: new Date(now).toISOString(),
      heartbeatMs: HEARTBEAT_MS,
      ...(this.#closed ? { stoppedAt: new Date(now).toISOString() } : {}),
    };
    const json = path.join(this.root, 'meta', 'status.json');
    await writeFile(`${json}.tmp`, `${JSON.stringify(statusJson(c, this.studyId, now, conductor), null, 2)}\n`);
    await rename(`${json}.tmp`, json);
    this.#lastJson = now;
  }

  #enqueue(c: Conductor): Promise<void> {
    this.#chain = this.#chain.then(
      () => this.write(c),
      () => this.write(c),
    );
    return this.#chain;
  }

  /** Writes both files. */
  async write(c: Conductor): Promise<void> {
    const t0 = Date.now();
    await this.#writeJson(c);
    await this.#csv.write(c);
    this.#lastWrite = Date.now();
    this.#lastCost = this.#lastWrite - t0;
  }
}
