/**
 * The workers that ran or can run a study's steps, from their heartbeats and the study's own
 * records, and the allocations they live in with the time left there.
 */
import {
  DEFAULT_QUEUE,
  readStateRecord,
  STATE_RECORD_BYTES,
  StepState,
  WORKER_RECORD_TTL_MS,
  type QuarantineEvidence,
  type WorkerRecord,
} from '@maestro/protocol';
import { parseWorkerRecord } from './records.js';
import type { WorkerRecords } from './study-source.js';
import type { Snapshot } from './study-model.js';
import type { AllocationView, WorkerView } from './views.js';

export async function workerViews(
  snap: Snapshot,
  reader: WorkerRecords,
  now: number,
): Promise<{
  now: number;
  workers: WorkerView[];
  allocations: AllocationView[];
  quarantined: readonly QuarantineEvidence[];
}> {
  const r = snap.record;
  const runningHere = runningPerWorker(snap);
  const [joined, alive] = await Promise.all([
    reader.readStudyWorkers(r.id),
    reader.recentWorkers(now - WORKER_RECORD_TTL_MS, 1000),
  ]);
  const names = new Set<string>([...Object.keys(joined), ...r.workerNames.filter(Boolean), ...alive]);
  const list = [...names];
  const hashes = await reader.readWorkerRecords(list);
  const studyQueues = new Set(r.queues.length > 0 ? r.queues : [DEFAULT_QUEUE]);
  const workers: WorkerView[] = [];
  const quarantinedHosts = new Set(r.quarantined.map((q) => q.host));
  list.forEach((name, k) => {
    const rec: WorkerRecord | undefined = parseWorkerRecord(hashes[k]!);
    const queues = rec ? rec.queues.split(',').filter(Boolean) : [];
    const ranHere = name in joined || r.workerNames.includes(name);
    // An idle worker of another deployment's queues is not serving this study.
    if (!ranHere && !queues.some((q) => studyQueues.has(q))) return;
    const info = parseJoined(joined[name]);
    const endsAt = rec?.allocationEndsAt ?? null;
    const host = rec?.host ?? info.host ?? '';
    workers.push({
      name,
      host,
      allocationId: rec?.allocationId ?? info.allocationId ?? null,
      scheduler: rec?.scheduler ?? null,
      state: rec?.state ?? 'gone',
      slots: rec?.slots ?? null,
      // The heartbeat is up to a few seconds old; the study's own records are fresher.
      running: rec ? Math.max(rec.running, runningHere.get(name) ?? 0) : null,
      runningHere: runningHere.get(name) ?? 0,
      done: rec?.done ?? null,
      queues,
      lastSeen: rec?.lastSeen ?? null,
      allocationEndsAt: endsAt,
      timeLeftMs: endsAt === null ? null : Math.max(0, endsAt - now),
      quarantined: quarantinedHosts.has(host),
    });
  });
  workers.sort((a, b) => Number(a.state === 'gone') - Number(b.state === 'gone') || a.name.localeCompare(b.name));
  return { now, workers, allocations: allocationsOf(workers), quarantined: r.quarantined };
}

/** Instances of the study running now, per worker name. */
function runningPerWorker(snap: Snapshot): Map<string, number> {
  const r = snap.record;
  const runningHere = new Map<string, number>();
  for (let i = 0; i < r.instanceCount; i++) {
    if (snap.bytes[i * STATE_RECORD_BYTES] !== StepState.RUNNING) continue;
    const rec = readStateRecord(snap.bytes, i);
    const name = r.workerNames[rec.worker];
    if (name) runningHere.set(name, (runningHere.get(name) ?? 0) + 1);
  }
  return runningHere;
}

function parseJoined(text: string | undefined): { host?: string; allocationId?: string } {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as { host?: unknown; allocationId?: unknown };
    return {
      host: typeof v.host === 'string' ? v.host : undefined,
      allocationId: typeof v.allocationId === 'string' ? v.allocationId : undefined,
    };
  } catch {
    return {};
  }
}

/** Workers grouped by allocation; the allocation ends when its first worker says it does. */
export function allocationsOf(workers: readonly WorkerView[]): AllocationView[] {
  const groups = new Map<string, WorkerView[]>();
  for (const w of workers) {
    const key = w.allocationId ?? `local@${w.host || '?'}`;
    const list = groups.get(key) ?? [];
    list.push(w);
    groups.set(key, list);
  }
  return [...groups].map(([id, ws]) => {
    const ends = ws.map((w) => w.allocationEndsAt).filter((v): v is number => v !== null);
    const left = ws.map((w) => w.timeLeftMs).filter((v): v is number => v !== null);
    return {
      id,
      scheduler: ws.find((w) => w.scheduler)?.scheduler ?? null,
      hosts: [...new Set(ws.map((w) => w.host).filter(Boolean))],
      workers: ws.length,
      alive: ws.filter((w) => w.state !== 'gone').length,
      slots: ws.reduce((n, w) => n + (w.state === 'gone' ? 0 : (w.slots ?? 0)), 0),
      running: ws.reduce((n, w) => n + w.runningHere, 0),
      endsAt: ends.length ? Math.min(...ends) : null,
      timeLeftMs: left.length ? Math.min(...left) : null,
    };
  });
}
