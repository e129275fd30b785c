/**
 * Gathers what status/liveness.ts judges, for `maestro status`: the heartbeat in status.json,
 * whether its process exists when it ran on this host, and, when the files leave a doubt, the
 * lease in the study's Redis if that answers within a moment. Loaded only for studies that are
 * still RUNNING in their files.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { embeddedRedisDir, openQuickRedis, readConductorLease, type Redis, type RedisTarget } from '../redis/index.js';
import { metaDir, type StudyMeta } from '../study/index.js';
import type { StatusJson } from './files.js';
import { judgeConductor, parseHolder, type ConductorLiveness } from './liveness.js';

/** How long a look at Redis may take before the files alone answer. */
const REDIS_TIMEOUT_MS = 1_500;
/** After Redis did not answer, the files alone answer for this long before it is tried again. */
const REDIS_RETRY_MS = 15_000;

/** Whether process `pid` exists here (one of another user counts). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The study's Redis, if there is a way to reach it without asking anyone: the embedded server's
 * socket in its folder, or the shared server given in the environment (MAESTRO_REDIS_URL and its
 * password file) or recorded in study.json (no password is ever recorded there).
 */
export function studyRedisTarget(meta: StudyMeta, env: RedisTarget | undefined): RedisTarget | undefined {
  if (meta.redis?.mode === 'external') return env ?? { url: meta.redis.url };
  if (meta.dryRun) return undefined;
  const dir = embeddedRedisDir(metaDir(meta.root));
  const socket = path.join(dir, 'redis.sock');
  return existsSync(socket) ? { url: `redis+unix://${socket}`, passwordFile: path.join(dir, 'password') } : undefined;
}

/** Judges one study's conductor each time it is asked; keeps its Redis connection between looks. */
export class ConductorProbe {
  #redis: Redis | undefined;
  #triedMs = -Infinity;

  constructor(
    private readonly meta: StudyMeta,
    private readonly target: RedisTarget | undefined,
    private readonly here = hostname(),
  ) {}

  /** Undefined when there is nothing to judge: no status.json yet, or a study that ended. */
  async check(summary: StatusJson | undefined, now: number): Promise<ConductorLiveness | undefined> {
    if (summary?.state !== 'RUNNING') return undefined;
    const heartbeat = summary.conductor;
    const pidAlive = heartbeat && heartbeat.host === this.here ? processExists(heartbeat.pid) : undefined;
    const fromFiles = judgeConductor({ now, heartbeat, pidAlive });
    // The conductor said it stopped, or its process is gone: Redis would not change that.
    if (fromFiles.evidence === 'stopped' || fromFiles.evidence === 'process') return fromFiles;
    const lease = await this.#lease(now);
    if (!lease) return fromFiles;
    const holder = parseHolder(lease.holder);
    const holderAlive = holder && holder.host === this.here ? processExists(holder.pid) : undefined;
    return judgeConductor({ now, heartbeat, pidAlive, lease, holderAlive });
  }

  async #lease(now: number): Promise<Awaited<ReturnType<typeof readConductorLease>> | undefined> {
    if (!this.target) return undefined;
    if (!this.#redis) {
      if (now - this.#triedMs < REDIS_RETRY_MS) return undefined;
      this.#triedMs = now;
      this.#redis = await openQuickRedis(this.target, REDIS_TIMEOUT_MS);
      if (!this.#redis) return undefined;
    }
    try {
      return await readConductorLease(this.#redis, this.meta.prefix, this.meta.id);
    } catch {
      this.close();
      return undefined;
    }
  }

  close(): void {
    this.#redis?.disconnect();
    this.#redis = undefined;
  }
}
