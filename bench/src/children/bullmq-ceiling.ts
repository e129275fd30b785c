/**
 * The ceiling of the simulated scenarios: bare BullMQ no-op jobs. Adds N jobs with addBulk,
 * then one Worker (concurrency C) completes them; prints {jobs, ms} for the processing.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url = 'redis://127.0.0.1:6379', nText = '10000', concurrencyText = '16'] = process.argv.slice(2);
const n = Number(nText);
const prefix = `ceil${Math.random().toString(36).slice(2, 8)}`;
const connection = new Redis(url, { maxRetriesPerRequest: null });
const queue = new Queue('noop', { connection, prefix });
for (let k = 0; k < n; k += 1000) {
  await queue.addBulk(
    Array.from({ length: Math.min(1000, n - k) }, (_, j) => ({
      name: 'noop',
      data: { i: k + j },
      opts: { removeOnComplete: true },
    })),
  );
}
let done = 0;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  const worker = new Worker(
    'noop',
    async () => {
      if (++done === n) setImmediate(resolve);
    },
    { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix, concurrency: Number(concurrencyText) },
  );
  worker.on('error', () => undefined);
});
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ jobs: n, ms })}\n`);
process.exit(0);
