/**
 * The floor under any conductor that learns of each result through Redis as it comes: this
 * process only reads a stream with XREAD BLOCK, one wake-up per entry, and does nothing with
 * what it reads. A writer in another process adds an entry each time a spawned `true` exits, so
 * entries arrive at a chain's pace. Prints {links, cpuMs, ms}, this process's CPU (user +
 * system) over the entries, as bullmq-chain does.
 *
 * `stream-wake URL N` reads; `stream-wake URL N writer KEY` is the writer it starts.
 */
import { Redis } from 'ioredis';
import { measureLinks, spawnTrue, startHelper } from './chain-pace.js';

const [url = 'redis://127.0.0.1:6379', nText = '1000', role = 'reader', writerKey = ''] = process.argv.slice(2);
const n = Number(nText);

if (role === 'writer') {
  const redis = new Redis(url);
  await redis.ping();
  process.stdout.write('ready\n');
  for (let k = 0; k < n; k++) {
    await spawnTrue();
    await redis.xadd(writerKey, '*', 'k', String(k));
  }
  await redis.quit();
} else {
  const key = `wake${Math.random().toString(36).slice(2, 8)}`;
  const redis = new Redis(url);
  await redis.ping();
  await startHelper(import.meta.url, [url, nText, 'writer', key]);
  const printCpu = measureLinks(n);
  let seen = 0;
  let last = '0';
  while (seen < n) {
    const reply = await redis.xread('BLOCK', 10_000, 'STREAMS', key, last);
    for (const [, entries] of reply ?? []) {
      for (const [id] of entries) {
        last = id;
        seen++;
      }
    }
  }
  printCpu();
  await redis.del(key);
  process.exit(0);
}
