/**
 * Is anyone conducting this study? A study whose conductor was killed, or whose node went down,
 * stays RUNNING in its files and in Redis; this tells it from one that merely waits, from what
 * is at hand:
 *
 * - status.json's heartbeat (status/files.ts): host, pid, the time of its last write (at least
 *   every `heartbeatMs` while the conductor lives), and `stoppedAt` once it stopped driving;
 * - on the conductor's own host, whether its process still exists;
 * - when Redis can be reached, the study's lease (a key only a live conductor keeps renewing,
 *   every third of its 15 s time to live) and the hash's record of the last conductor.
 *
 * Pure: callers gather the facts (status/liveness-probe.ts, the dashboard).
 */
import type { ConductorHeartbeat } from './files.js';
import type { LeaseFacts } from '../redis/index.js';

export type ConductorState =
  /** A conductor drives the study. */
  | 'running'
  /** None does: it stopped, was killed, or its node went down. `maestro resume` continues the study. */
  | 'gone'
  /** Nothing to tell by: files of an older maestro and no Redis. */
  | 'unknown';

/** What told: the lease in Redis, the heartbeat's age, the process, or the conductor itself. */
export type LivenessEvidence = 'lease' | 'heartbeat' | 'process' | 'stopped' | 'none';

export interface ConductorLiveness {
  readonly state: ConductorState;
  readonly host: string | undefined;
  readonly pid: number | undefined;
  /** Its last sign of life (epoch ms): its last heartbeat, or when it stopped. */
  readonly lastSeenMs: number | undefined;
  readonly evidence: LivenessEvidence;
}

export interface LivenessFacts {
  readonly now: number;
  /** status.json's `conductor`; undefined in files of older versions. */
  readonly heartbeat: ConductorHeartbeat | undefined;
  /** Whether the heartbeat's process exists; undefined unless it ran on this host. */
  readonly pidAlive?: boolean | undefined;
  /** Redis's view; undefined when not asked or not reachable. */
  readonly lease?: LeaseFacts | undefined;
  /** Whether the lease holder's process exists; undefined unless it runs on this host. */
  readonly holderAlive?: boolean | undefined;
}

/** Between two heartbeats when status.json does not say (status/files.ts HEARTBEAT_MS). */
const DEFAULT_HEARTBEAT_MS = 5_000;

/**
 * A heartbeat older than this says its conductor is gone: four missed beats and 5 s for a slow
 * write (a big status.csv goes first) or clocks a little apart. 25 s with the default beat.
 */
export function staleAfterMs(heartbeatMs: number): number {
  return 4 * heartbeatMs + 5_000;
}

/** `host:pid[:token]` as the lease and the study hash hold it. */
export function parseHolder(text: string | undefined | null): { host: string; pid: number } | undefined {
  if (!text) return undefined;
  const [host, pid] = text.split(':');
  const n = Number(pid);
  return host && Number.isInteger(n) && n > 0 ? { host, pid: n } : undefined;
}

export function judgeConductor(f: LivenessFacts): ConductorLiveness {
  const hb = f.heartbeat;
  const beatMs = hb ? Date.parse(hb.heartbeatAt) : NaN;
  const interval = hb?.heartbeatMs && hb.heartbeatMs > 0 ? hb.heartbeatMs : DEFAULT_HEARTBEAT_MS;
  const age = Number.isFinite(beatMs) ? f.now - beatMs : undefined;
  // Within two beats: a conductor that just took the study, or whose Redis is coming back.
  const fresh = age !== undefined && age <= 2 * interval;
  const stale = age !== undefined && age > staleAfterMs(interval);
  const stoppedMs = hb?.stoppedAt ? Date.parse(hb.stoppedAt) : NaN;
  const seen = [Number.isFinite(stoppedMs) ? stoppedMs : beatMs, f.lease?.heartbeatMs ?? NaN].filter(Number.isFinite);
  const lastSeenMs = seen.length ? Math.max(...seen) : undefined;
  const last = parseHolder(f.lease?.conductor) ?? (hb ? { host: hb.host, pid: hb.pid } : undefined);
  const say = (state: ConductorState, evidence: LivenessEvidence, who = last): ConductorLiveness => ({
    state,
    host: who?.host,
    pid: who?.pid,
    lastSeenMs: state === 'running' ? undefined : lastSeenMs,
    evidence,
  });

  if (f.lease?.holder) {
    const holder = parseHolder(f.lease.holder);
    const sameAsBeat = holder && hb && holder.host === hb.host && holder.pid === hb.pid;
    // The lease outlives a killed conductor by up to its time to live; its process tells sooner.
    if (f.holderAlive === false && !(sameAsBeat && fresh)) return say('gone', 'process', holder);
    return say('running', 'lease', holder);
  }
  if (hb && Number.isFinite(stoppedMs)) return say('gone', 'stopped');
  // A process that is gone, unless the heartbeat is too recent for that (another pid namespace).
  if (f.pidAlive === false && !fresh) return say('gone', 'process');
  if (f.lease) return fresh ? say('running', 'heartbeat') : say('gone', 'lease');
  if (age === undefined) return say('unknown', 'none');
  return stale ? say('gone', 'heartbeat') : say('running', 'heartbeat');
}

/** `14:02:11` today, `2026-01-03 14:02` another day (local time). */
export function formatSeen(ms: number, now: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}`;
  if (new Date(now).toDateString() === d.toDateString()) return `${time}:${p(d.getSeconds())}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

/**
 * What to tell a person about a study nobody conducts:
 * `conductor not running since 14:02:11 (node12, pid 4242); continue the study with: maestro resume DIR`.
 * Undefined while a conductor runs it, or when that cannot be told.
 */
export function conductorNotice(c: ConductorLiveness | undefined, root: string, now: number): string | undefined {
  if (c?.state !== 'gone') return undefined;
  const since = c.lastSeenMs !== undefined ? ` since ${formatSeen(c.lastSeenMs, now)}` : '';
  const who = c.host ? ` (${c.host}${c.pid ? `, pid ${c.pid}` : ''})` : '';
  return `conductor not running${since}${who}; continue the study with: maestro resume ${root}`;
}
