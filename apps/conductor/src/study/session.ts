/**
 * Opening an existing study: its metadata, its Redis (starting the embedded server again if it
 * is not running), and its store. Used by resume, status, cancel and update.
 */
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { redactUrl } from '@maestro/secrets';
import {
  connectRedis,
  RedisConnectionError,
  type ConnectionRole,
  type Redis,
  type RedisTarget,
  clientRoom,
  embeddedRedisDir,
  fleetRoomProblem,
  openFileLimit,
  findRedisServer,
  lockEmbeddedRedis,
  startEmbeddedRedis,
  type EmbeddedRedis,
} from '../redis/index.js';
import { metaDir, readStudyMeta, type StudyMeta } from './meta.js';

export interface RedisChoice {
  /** `--redis URL` or MAESTRO_REDIS_URL. */
  readonly url?: string | undefined;
  readonly passwordFile?: string | undefined;
  /** `--sentinel-password-file` or MAESTRO_SENTINEL_PASSWORD_FILE, for a redis+sentinel:// URL. */
  readonly sentinelPasswordFile?: string | undefined;
  readonly tlsCaFile?: string | undefined;
}

/** The target a chosen URL names, with the files that go with it. */
export function targetOf(choice: RedisChoice & { url: string }): RedisTarget {
  return {
    url: choice.url,
    passwordFile: choice.passwordFile,
    sentinelPasswordFile: choice.sentinelPasswordFile,
    tlsCaFile: choice.tlsCaFile,
  };
}

export interface OpenedRedis {
  readonly target: RedisTarget;
  /**
   * Set when this process started the embedded server: it alone stops it. A server this process
   * found running (and did not start) is never stopped by it.
   */
  readonly embedded: EmbeddedRedis | undefined;
}

/**
 * What a new study needs of its Redis, checked before its folder exists so that a refusal leaves
 * nothing behind: `redis-server` on PATH for the embedded server; for `--redis URL`, a server
 * that answers and takes the credentials.
 */
export async function checkRedisForNewStudy(choice: RedisChoice): Promise<void> {
  if (!choice.url) {
    findRedisServer();
    return;
  }
  await checkRedisAnswers(targetOf({ ...choice, url: choice.url }));
}

/**
 * Connects once and lets go: refuses now a server that cannot be reached or refuses the
 * credentials, where a conductor's own connections would wait for it.
 */
export async function checkRedisAnswers(target: RedisTarget): Promise<void> {
  const probe = await connect({ target, embedded: undefined }, 'command');
  await probe.quit().catch(() => probe.disconnect());
}

/** The Redis a new study uses: the one given, else a fresh embedded server in its meta folder. */
export async function redisForNewStudy(root: string, choice: RedisChoice): Promise<OpenedRedis> {
  if (choice.url)
    return {
      target: targetOf({ ...choice, url: choice.url }),
      embedded: undefined,
    };
  const lock = await lockEmbeddedRedis(metaDir(root));
  try {
    const embedded = await startEmbeddedRedis(metaDir(root), lock);
    return { target: { url: embedded.url, passwordFile: embedded.passwordFile }, embedded };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * The Redis of an existing study. With `start` (a conductor: resume), the study's owner lock is
 * taken first, so a second conductor is refused (StudyBusyError) before it touches Redis, and the
 * embedded server is started if it is down. Without (status, cancel, update, dashboard), a
 * running server is used as found.
 */
export async function redisForStudy(meta: StudyMeta, choice: RedisChoice, start: boolean): Promise<OpenedRedis> {
  if (meta.redis?.mode === 'external') {
    const url = choice.url;
    if (!url) {
      throw new Error(
        `this study uses the Redis at ${meta.redis.url}; give it again with --redis URL or MAESTRO_REDIS_URL (passwords are never stored)`,
      );
    }
    return { target: targetOf({ ...choice, url }), embedded: undefined };
  }
  const dir = embeddedRedisDir(metaDir(meta.root));
  const socket = path.join(dir, 'redis.sock');
  const target: RedisTarget = { url: `redis+unix://${socket}`, passwordFile: path.join(dir, 'password') };
  if (!start) {
    if (await answers(socket)) return { target, embedded: undefined };
    throw new StudyNotRunningError(meta.root);
  }
  const lock = await lockEmbeddedRedis(metaDir(meta.root));
  try {
    // Held, yet a server answers: one started without the lock (an older maestro). Used, never stopped.
    if (await answers(socket)) return { target, embedded: undefined };
    const embedded = await startEmbeddedRedis(metaDir(meta.root), lock);
    return { target: { url: embedded.url, passwordFile: embedded.passwordFile }, embedded };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * Whether `workers` more workers fit in the server's maxclients (client-room.ts); the problem in
 * words when they do not, undefined when they do or the server will not say.
 */
export async function fleetRoom(opened: OpenedRedis, workers: number): Promise<string | undefined> {
  if (workers <= 0) return undefined;
  const probe = await connect(opened, 'command');
  try {
    const room = await clientRoom(probe);
    if (!room) return undefined;
    const where = opened.embedded ? "the study's Redis" : `Redis at ${redactUrl(opened.target.url)}`;
    return fleetRoomProblem(room, workers, where, opened.embedded ? { fdLimit: openFileLimit() } : undefined);
  } finally {
    await probe.quit().catch(() => probe.disconnect());
  }
}

/** True if a server listens on the socket (a socket file left by a server that died refuses at once). */
async function answers(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false;
  return new Promise((resolve) => {
    const probe = createConnection(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class StudyNotRunningError extends Error {
  override readonly name = 'StudyNotRunningError';
  constructor(root: string) {
    super(`the study in ${root} is not running (its Redis is stopped); start it again with: maestro resume ${root}`);
  }
}

export async function openStudy(root: string): Promise<StudyMeta> {
  return readStudyMeta(path.resolve(root));
}

export async function connect(opened: OpenedRedis, role: ConnectionRole): Promise<Redis> {
  try {
    return await connectRedis(opened.target, role);
  } catch (err) {
    if (err instanceof RedisConnectionError) throw err; // its message already says where and why
    throw new Error(`${(err as Error).message} (${redactUrl(opened.target.url)})`);
  }
}
