/**
 * Is Redis refusing us for being full? A server at `maxclients` accepts the connection, writes
 * `-ERR max number of clients reached` and closes it; ioredis, writing its first command at that
 * moment, usually reports only EPIPE or ECONNRESET. So the worker asks again on a plain socket
 * and reads what the server says first, to turn "Redis keeps dropping us" into advice
 * (maxClientsAdvice: raise maxclients and the server's open-file limit, or start fewer workers).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MAX_CLIENTS_REPLY, parseRedisUrl } from '@maestro/protocol';
import type { WorkerConfig } from './config.js';

/** How long the server may take to say something on a fresh connection. */
const GREETING_WAIT_MS = 2_000;

/** The error codes with which ioredis reports a connection the server closed on it. */
const DROPPED = new Set(['EPIPE', 'ECONNRESET']);

/** True for an error that may be a refusal for being full (then ask `refusedForMaxClients`). */
export function mayBeFull(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return err.message.includes(MAX_CLIENTS_REPLY) || (typeof code === 'string' && DROPPED.has(code));
}

/**
 * True when a new connection to the server of `config.redisUrl` is refused with "max number of
 * clients reached". Sentinel and cluster URLs name several servers: not asked (false).
 */
export async function refusedForMaxClients(config: Pick<WorkerConfig, 'redisUrl' | 'tlsCa'>): Promise<boolean> {
  const address = parseRedisUrl(config.redisUrl);
  let socket: Socket;
  if (address.kind === 'unix') socket = netConnect({ path: address.path });
  else if (address.kind !== 'server') return false;
  else if (address.tls) {
    socket = tlsConnect({ host: address.host, port: address.port, servername: address.host, ca: config.tlsCa });
  } else socket = netConnect({ host: address.host, port: address.port });
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), GREETING_WAIT_MS);
      socket.once('data', (data: Buffer) => {
        clearTimeout(timer);
        resolve(data.toString('latin1').includes(MAX_CLIENTS_REPLY));
      });
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  } finally {
    socket.destroy();
  }
}
