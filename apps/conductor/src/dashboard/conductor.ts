/**
 * The study view's `conductor`: whether a conductor still drives a RUNNING study. A conductor
 * killed, or on a node that went down, leaves its study RUNNING in Redis; its lease (renewed every
 * third of its 15 s time to live) is what is gone, and the study hash keeps when it was last
 * renewed and by whom. The page shows the notice and no ETA for a study nobody conducts.
 */
import { conductorNotice, judgeConductor } from '../status/index.js';
import type { StudySource } from './study-source.js';

/** GET /api/studies/:id `conductor`; null for a study that is not RUNNING. */
export interface ConductorView {
  /** Whether a conductor holds the study's lease. */
  readonly running: boolean;
  /** The conductor that holds it, or the last one that did. */
  readonly host: string | null;
  readonly pid: number | null;
  /** When it was last seen alive (epoch ms), when it is gone and that is known. */
  readonly lastSeenAt: number | null;
  /** For people: `conductor not running since 14:02:11 (host, pid 42); continue the study with: maestro resume DIR`. */
  readonly message: string | null;
}

/** From Redis, the lease; from a study folder, the heartbeat in its status.json. */
export async function readConductorView(
  source: StudySource,
  study: { readonly id: string; readonly state: string; readonly root: string },
  now: number,
): Promise<ConductorView | null> {
  if (study.state !== 'RUNNING') return null;
  const c = judgeConductor({ now, ...(await source.readLiveness(study.id)) });
  const message = conductorNotice(c, study.root || '<study folder>', now);
  return {
    running: c.state !== 'gone',
    host: c.host ?? null,
    pid: c.pid ?? null,
    lastSeenAt: c.lastSeenMs ?? null,
    message: message ? `${message.charAt(0).toUpperCase()}${message.slice(1)}` : null,
  };
}

/**
 * The study's detail with its conductor. A study nobody conducts has no ETA (nothing will
 * finish), and its elapsed time stopped when its conductor was last seen.
 */
export function withConductor<
  T extends { readonly startedAt: number | null; readonly elapsedMs: number | null; readonly etaMs: number | null },
>(detail: T, conductor: ConductorView | null): T & { conductor: ConductorView | null } {
  if (conductor?.running !== false) return { ...detail, conductor };
  const { lastSeenAt } = conductor;
  const { startedAt } = detail;
  const elapsedMs = lastSeenAt !== null && startedAt !== null ? Math.max(0, lastSeenAt - startedAt) : detail.elapsedMs;
  return { ...detail, conductor, etaMs: null, elapsedMs };
}
