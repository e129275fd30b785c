/**
 * Global setup of the int and e2e projects: one private redis-server for the whole run, given to
 * tests as inject('redisUrl'). REDIS_URL overrides it. Tests isolate themselves by key prefix;
 * tests that kill or restart Redis start their own (test/helpers/redis-server.ts).
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env['REDIS_URL'];
  if (!url) {
    try {
      server = await startRedisServer({ appendonly: false });
    } catch (err) {
      throw new Error(
        `The tests need redis-server on PATH (Debian: apt-get install redis-server), or REDIS_URL pointing at a Redis they may use.\n${String(err)}`,
      );
    }
    url = server.url;
  }
  project.provide('redisUrl', url);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
