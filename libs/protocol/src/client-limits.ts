/**
 * How many Redis connections a fleet holds, and what to say when Redis refuses one for being
 * full (`maxclients`). Conductor and worker give the same advice.
 *
 * A worker holds three connections: its commands (fence, heartbeat, BullMQ's non-blocking
 * calls), its BullMQ Worker's blocking fetch, and its control-channel subscription; a worker
 * taking steps from several queues holds one blocking connection more per extra queue.
 */

/** Connections one worker holds (one queue). */
export const CONNECTIONS_PER_WORKER = 3;

/** Connections the conductor holds, with room for `maestro status` and a dashboard beside it. */
export const CONDUCTOR_CONNECTIONS = 16;

/** What Redis answers a client it has no room for, before closing its connection. */
export const MAX_CLIENTS_REPLY = 'max number of clients reached';

/** Redis's own file descriptors beside its clients' (redis-server keeps 32 for itself). */
export const REDIS_RESERVED_FDS = 32;

/** The `maxclients` a fleet of `workers` needs: theirs, the conductor's, and a tenth to spare. */
export function clientsNeeded(workers: number): number {
  return Math.ceil((workers * CONNECTIONS_PER_WORKER + CONDUCTOR_CONNECTIONS) * 1.1);
}

/**
 * The advice when `where` (a redacted Redis URL) refused a connection for being full; `maxclients`
 * when known (CONFIG GET maxclients).
 */
export function maxClientsAdvice(where: string, maxclients?: number): string {
  const limit = maxclients === undefined ? 'its maxclients' : `maxclients ${maxclients}`;
  return (
    `${where} refused the connection: ${MAX_CLIENTS_REPLY} (${limit}). Each maestro-worker holds ` +
    `${CONNECTIONS_PER_WORKER} connections, so N workers need about ${CONNECTIONS_PER_WORKER}N + ` +
    `${CONDUCTOR_CONNECTIONS}: raise it on the server with \`redis-cli CONFIG SET maxclients M\` (or ` +
    `\`maxclients M\` in redis.conf), and start redis-server with an open-file limit of at least ` +
    `M + ${REDIS_RESERVED_FDS} (\`ulimit -n\`; redis-server lowers maxclients to fit a smaller one), ` +
    `or start fewer workers`
  );
}
