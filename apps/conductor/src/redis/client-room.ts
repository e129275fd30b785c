/**
 * Room for a fleet's connections: Redis accepts at most `maxclients` clients (10,000 unless
 * set), and redis-server lowers that by itself when its open-file limit is smaller (it keeps 32
 * descriptors for itself). A fleet that does not fit sees its workers refused one by one ("max
 * number of clients reached"): the conductor says so before it starts them.
 *
 * Asked with CONFIG GET maxclients and INFO clients; a server that refuses CONFIG (a managed
 * Redis, an ACL without it) is not judged.
 */
import { readFileSync } from 'node:fs';
import { CONNECTIONS_PER_WORKER, REDIS_RESERVED_FDS } from '@maestro/protocol';
import type { Redis } from './connection.js';

/** This process's open-file limit (soft), from /proc/self/limits; undefined where unknown. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limits, 'utf8'));
    return !m ? undefined : m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

export interface ClientRoom {
  readonly maxclients: number;
  readonly connected: number;
}

/** The server's maxclients and connected clients now; undefined when it will not say. */
export async function clientRoom(redis: Redis): Promise<ClientRoom | undefined> {
  try {
    const [, max] = (await redis.config('GET', 'maxclients')) as [string, string];
    const info = await redis.info('clients');
    const connected = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? NaN);
    if (!Number.isFinite(Number(max)) || !Number.isFinite(connected)) return undefined;
    return { maxclients: Number(max), connected };
  } catch {
    return undefined;
  }
}

/**
 * What to tell the user when `workers` more workers will not fit in `room` (undefined when they
 * do). `embedded`: the server is the study's own, started by this conductor with its open-file
 * limit `fdLimit`.
 */
export function fleetRoomProblem(
  room: ClientRoom,
  workers: number,
  where: string,
  embedded: { fdLimit: number | undefined } | undefined,
): string | undefined {
  const needed = workers * CONNECTIONS_PER_WORKER;
  const free = room.maxclients - room.connected;
  if (needed <= free) return undefined;
  const want = room.connected + needed;
  const fix = embedded
    ? `its redis-server inherits this conductor's open-file limit (${
        embedded.fdLimit === undefined ? 'unknown' : `ulimit -n ${embedded.fdLimit}`
      }): raise it to at least ${want + REDIS_RESERVED_FDS} (ulimit -n) before \`maestro run\`, or start fewer workers`
    : `raise it on the server (\`redis-cli CONFIG SET maxclients ${want}\`, and start redis-server with ` +
      `ulimit -n of at least ${want + REDIS_RESERVED_FDS}), or start fewer workers`;
  return (
    `${where} has room for ${Math.max(0, free)} more clients (maxclients ${room.maxclients}, ${room.connected} connected), ` +
    `but ${workers} workers need about ${needed} (${CONNECTIONS_PER_WORKER} each): ${fix}`
  );
}
