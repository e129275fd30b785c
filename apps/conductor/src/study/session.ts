/**
 * Opening an existing study: its metadata, its Redis (starting the embedded server again if it
 * is not running), and its store. Used by resume, status, cancel and update.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { redactUrl } from '@maestro/secrets';
import {
  connectRedis,
  RedisConnectionError,
  type ConnectionRole,
  type Redis,
  type RedisTarget,
  embeddedRedisDir,
  startEmbeddedRedis,
  type EmbeddedRedis,
} from '../redis/index.js';
import { metaDir, readStudyMeta, type StudyMeta } from './meta.js';

export interface RedisChoice {
  /** `--redis URL` or MAESTRO_REDIS_URL. */
  readonly url?: string | undefined;
  readonly passwordFile?: string | undefined;
  readonly tlsCaFile?: string | undefined;
}

export interface OpenedRedis {
  readonly target: RedisTarget;
  /** Set when this process started the embedded server (and must stop it). */
  readonly embedded: EmbeddedRedis | undefined;
}

/** The Redis a new study uses: the one given, else a fresh embedded server in its meta folder. */
export async function redisForNewStudy(root: string, choice: RedisChoice): Promise<OpenedRedis> {
  if (choice.url)
    return {
      target: { url: choice.url, passwordFile: choice.passwordFile, tlsCaFile: choice.tlsCaFile },
      embedded: undefined,
    };
  const embedded = await startEmbeddedRedis(metaDir(root));
  return { target: { url: embedded.url, passwordFile: embedded.passwordFile }, embedded };
}

/** The Redis of an existing study; `start` allows starting its embedded server if it is down. */
export async function redisForStudy(meta: StudyMeta, choice: RedisChoice, start: boolean): Promise<OpenedRedis> {
  if (meta.redis?.mode === 'external') {
    const url = choice.url;
    if (!url) {
      throw new Error(
        `this study uses the Redis at ${meta.redis.url}; give it again with --redis URL or MAESTRO_REDIS_URL (passwords are never stored)`,
      );
    }
    return { target: { url, passwordFile: choice.passwordFile, tlsCaFile: choice.tlsCaFile }, embedded: undefined };
  }
  const dir = embeddedRedisDir(metaDir(meta.root));
  const socket = path.join(dir, 'redis.sock');
  const target: RedisTarget = { url: `redis+unix://${socket}`, passwordFile: path.join(dir, 'password') };
  if (existsSync(socket)) {
    try {
      const probe = await connectRedis(target, 'command');
      await probe.quit();
      return { target, embedded: undefined };
    } catch {
      // a socket left behind by a server that died: start a new one below
    }
  }
  if (!start) throw new StudyNotRunningError(meta.root);
  const embedded = await startEmbeddedRedis(metaDir(meta.root));
  return { target: { url: embedded.url, passwordFile: embedded.passwordFile }, embedded };
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
