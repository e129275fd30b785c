/**
 * The JSON the study view is made of (docs/dashboard.md shows each with an example), and the two
 * errors the API turns into 404 and 400. Every part of the catalog builds one of these shapes.
 */
import type { ConductorView } from './conductor.js';
import type { StepStateName } from '@maestro/protocol';
import type { FileTail } from '../status/index.js';
import type { JobPresence } from '../queue/index.js';
import type { StudyRecord } from './records.js';

/** One row of the study list (GET /api/studies). */
export interface StudyListItem {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly root: string;
  readonly host: string;
  readonly state: string;
  readonly total: number;
  readonly counts: Record<string, number>;
  /** Instances in a final state (FINISHED, FAILED, TIMEDOUT, CANCELLED). */
  readonly final: number;
  /** Epoch ms; null before the conductor started it. */
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly elapsedMs: number | null;
  /** Time left at the current rate; 0 when ended; null without a rate yet. */
  readonly etaMs: number | null;
  /** Instances reaching a final state per second, over about the last minute. */
  readonly ratePerSec: number;
  readonly problem: string | null;
}

export interface StepDetail {
  readonly index: number;
  readonly name: string;
  readonly total: number;
  readonly counts: Record<string, number>;
  /** Names of one-to-one parents and of funnel parents (`depends: [x_*]`). */
  readonly parents: string[];
  readonly funnelParents: string[];
}

/** GET /api/studies/:id, and every `summary` event of its stream. */
export interface StudyDetail extends StudyListItem {
  readonly now: number;
  /** Changes whenever instance records may have changed. */
  readonly version: string;
  readonly createdAt: string | null;
  readonly queues: readonly string[];
  readonly limits: StudyRecord['limits'];
  readonly cancelled: boolean;
  readonly failedTotal: number;
  readonly steps: StepDetail[];
  /** Whether the study folder could be read here (names, workspaces, DAG, error output need it). */
  readonly folder: { readonly readable: boolean; readonly problem: string | null };
  /** Where this came from: Redis (live), or the study folder's status files, and why. */
  readonly source: { readonly kind: 'redis' | 'folder'; readonly note: string | null };
  /** Whether a conductor drives a RUNNING study (dashboard/conductor.ts); null otherwise. */
  readonly conductor: ConductorView | null;
}

export interface JobLink {
  readonly queue: string;
  readonly id: string;
  /** BullMQ's state, or 'missing': completed jobs are removed at once, so a finished step has none. */
  readonly state: JobPresence;
  /** bull-board's page of the job; null when BullMQ no longer has it. */
  readonly url: string | null;
}

export interface InstanceView {
  readonly index: number;
  readonly name: string;
  readonly step: string;
  readonly state: StepStateName;
  /** Number of the current job (0 = never queued); job ids are `<study>.<index>.<attempt>`. */
  readonly attempt: number;
  readonly tries: number;
  readonly restarts: number;
  /** Exit code of the last run; null when none (never ran, still running, or killed by a signal). */
  readonly exitCode: number | null;
  readonly submittedAt: number | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly worker: string | null;
  readonly pid: number | null;
  /** Relative to the study folder; null without the folder. */
  readonly workspace: string | null;
  readonly params: Readonly<Record<string, string>>;
  readonly job: JobLink | null;
}

export interface FailureView extends InstanceView {
  /** True when it never ran: a step it depends on failed, which fails it too (as in Maestro). */
  readonly upstream: boolean;
  /** The end of its `.err` file; null when it never ran or the study folder is not readable here. */
  readonly err: FileTail | null;
}

export interface WorkerView {
  readonly name: string;
  readonly host: string;
  readonly allocationId: string | null;
  readonly scheduler: string | null;
  /** The worker's own state, or 'gone' when its heartbeat expired. */
  readonly state: string;
  readonly slots: number | null;
  /** Steps it runs now (any study) and of this study. */
  readonly running: number | null;
  readonly runningHere: number;
  readonly done: number | null;
  readonly queues: string[];
  readonly lastSeen: number | null;
  readonly allocationEndsAt: number | null;
  readonly timeLeftMs: number | null;
  /** Its host is quarantined as a bad node (the evidence is in the view's `quarantined`). */
  readonly quarantined: boolean;
}

export interface AllocationView {
  /** The scheduler's job id, or `local@<host>` for workers outside any allocation. */
  readonly id: string;
  readonly scheduler: string | null;
  readonly hosts: string[];
  readonly workers: number;
  readonly alive: number;
  readonly slots: number;
  readonly running: number;
  readonly endsAt: number | null;
  readonly timeLeftMs: number | null;
}

export interface Page<T> {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: T[];
}

/** No such study or step: 404. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** A query the API cannot answer as asked: 400. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}
