/**
 * The ceiling of the chain's conductor CPU: a chain driven with BullMQ's own tools. This
 * process adds job k, waits for its `completed` event from QueueEvents and adds job k+1;
 * a Worker in another process runs each job as a spawned `true`. Prints {links, cpuMs, ms}: this
 * process's CPU (user + system) over the chain, what `conductorCpuMs` is for `maestro run`.
 *
 * `bullmq-chain URL N` drives; `bullmq-chain URL N worker PREFIX` is the worker it starts.
 */
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { measureLinks, spawnTrue, startHelper } from './chain-pace.js';

const [url = 'redis://127.0.0.1:6379', nText = '1000', role = 'driver', workerPrefix = ''] = process.argv.slice(2);
const QUEUE = 'chain';

if (role === 'worker') {
  const worker = new Worker(QUEUE, spawnTrue, {
    connection: new Redis(url, { maxRetriesPerRequest: null }),
    prefix: workerPrefix,
    concurrency: 4,
  });
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
} else {
  const n = Number(nText);
  const prefix = `chain${Math.random().toString(36).slice(2, 8)}`;
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE, { connection, prefix });
  const events = new QueueEvents(QUEUE, { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix });
  await events.waitUntilReady();
  const worker = await startHelper(import.meta.url, [url, nText, 'worker', prefix]);
  // Not job.waitUntilFinished(): it races removeOnComplete ("Missing key for job").
  let finished: (() => void) | undefined;
  let waitingFor = '';
  events.on('completed', ({ jobId }) => {
    if (jobId === waitingFor) finished?.();
  });
  const printCpu = measureLinks(n);
  for (let k = 0; k < n; k++) {
    waitingFor = `link-${k}`;
    const done = new Promise<void>((resolve) => (finished = resolve));
    await queue.add('link', { k }, { jobId: waitingFor, removeOnComplete: true });
    await done;
  }
  printCpu();
  worker.kill('SIGKILL');
  process.exit(0);
}
