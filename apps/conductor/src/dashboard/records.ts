/**
 * Study and worker hashes, as the conductor and workers write them, turned into checked values.
 * Another version may have written them, so every field is optional and checked, and a record
 * that does not parse is shown as what it is rather than failing the page.
 */
import { parseQuarantines, StudyRecordField as F, WorkerRecord, type QuarantineEvidence } from '@maestro/protocol';
import { z } from 'zod';

/** The `meta` field of the study hash: the conductor's public description (no credentials). */
const PublicMeta = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  root: z.string().optional(),
  createdAt: z.string().optional(),
  instanceCount: z.number().int().nonnegative().optional(),
  steps: z.array(z.object({ name: z.string(), instances: z.number().int().nonnegative() })).optional(),
  queues: z.array(z.string()).optional(),
  host: z.string().optional(),
});

export interface StudyRecord {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Absolute study folder on the conductor's machine; '' if unknown. */
  readonly root: string;
  readonly host: string;
  readonly createdAt: string | undefined;
  readonly state: string;
  readonly instanceCount: number;
  /** Spec steps with their instance counts, in spec (and instance index) order. */
  readonly steps: readonly { name: string; instances: number }[];
  readonly queues: readonly string[];
  readonly counts: Record<string, number>;
  readonly startedMs: number | undefined;
  readonly endedMs: number | undefined;
  readonly limits: { throttle: number | undefined; rlimit: number | undefined; attempts: number | undefined };
  readonly cancelled: boolean;
  /** Index = the worker number in the instance records; 0 is "none". */
  readonly workerNames: readonly string[];
  /** Hosts quarantined as bad nodes, with the evidence (StudyRecordField.quarantine). */
  readonly quarantined: readonly QuarantineEvidence[];
  /** Set when the hash is missing or did not parse. */
  readonly problem: string | undefined;
}

function json(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function num(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export function parseStudyRecord(id: string, hash: Readonly<Record<string, string>>): StudyRecord {
  const meta = PublicMeta.safeParse(json(hash[F.meta]) ?? {});
  const m = meta.success ? meta.data : {};
  const counts = z.record(z.string(), z.number()).safeParse(json(hash[F.counts]) ?? {});
  const workerNames = z.array(z.string()).safeParse(json(hash[F.workerNames]) ?? ['']);
  const steps = m.steps ?? [];
  const problem =
    Object.keys(hash).length === 0
      ? 'Redis has no record of this study'
      : !meta.success
        ? `its meta field does not parse: ${meta.error.issues[0]?.message ?? 'invalid'}`
        : undefined;
  return {
    id,
    name: m.name ?? id,
    description: m.description ?? '',
    root: m.root ?? '',
    host: m.host ?? '',
    createdAt: m.createdAt,
    state: hash[F.state] ?? 'UNKNOWN',
    instanceCount: m.instanceCount ?? steps.reduce((n, s) => n + s.instances, 0),
    steps,
    queues: m.queues ?? [],
    counts: counts.success ? counts.data : {},
    startedMs: num(hash[F.startedAt]),
    endedMs: num(hash[F.endedAt]),
    limits: { throttle: num(hash[F.throttle]), rlimit: num(hash[F.rlimit]), attempts: num(hash[F.attempts]) },
    cancelled: hash[F.cancelled] === '1',
    workerNames: workerNames.success ? workerNames.data : [''],
    quarantined: parseQuarantines(hash[F.quarantine]),
    problem,
  };
}

/** A worker's heartbeat, or undefined when it expired (the worker is gone) or does not parse. */
export function parseWorkerRecord(hash: Readonly<Record<string, string>>): WorkerRecord | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  const r = WorkerRecord.safeParse(hash);
  return r.success ? r.data : undefined;
}
