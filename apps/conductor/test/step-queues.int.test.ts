/**
 * StepQueues.jobStates against a real Redis and BullMQ: what reconciliation is told of each job.
 * A job that stalled out is told apart end to end in conductor.int.test.ts ("stalled"); here, a
 * job failed for any other reason stays 'failed' (a counted try, as before).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { DEFAULT_QUEUE } from '@maestro/protocol';
import { StepQueues } from '../src/queue/step-queues.js';

const url = inject('redisUrl');
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

it('tells a job failed by its worker from one waiting and one missing', async () => {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const queues = new StepQueues(conn, prefix);
  closers.push(async () => {
    await queues.close();
    conn.disconnect();
  });
  const failed: string[] = [];
  const rejecting = new Worker(DEFAULT_QUEUE, () => Promise.reject(new UnrecoverableError('malformed job')), {
    connection: new Redis(url, { maxRetriesPerRequest: null }),
    prefix,
  });
  rejecting.on('error', () => undefined);
  rejecting.on('failed', (job) => failed.push(String(job?.id)));
  closers.push(() => rejecting.close());
  await queues.queue(DEFAULT_QUEUE).add('step', {}, { jobId: 'rejected' });
  await expect.poll(() => failed, { timeout: 20_000 }).toEqual(['rejected']);
  await rejecting.close();
  await queues.queue(DEFAULT_QUEUE).add('step', {}, { jobId: 'waiting' });
  const refs = ['rejected', 'waiting', 'never-added'].map((id) => ({ queue: DEFAULT_QUEUE, id }));
  expect(await queues.jobStates(refs)).toEqual(['failed', 'present', 'missing']);
});
