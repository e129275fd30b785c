/** The ready list: order kept through growth, retries in front, and compaction. */
import { expect, it } from 'vitest';
import { ReadyQueue } from '../src/conductor/ready-queue.js';

function drain(q: ReadyQueue): number[] {
  const out: number[] = [];
  while (q.size > 0) {
    out.push(q.peek());
    q.skip();
  }
  return out;
}

it('keeps its order as it grows, with retries in front', () => {
  const q = new ReadyQueue();
  for (let i = 0; i < 5000; i++) q.push(i);
  q.pushFront(-1);
  q.pushFront(-2);
  expect(q.size).toBe(5002);
  expect(drain(q)).toEqual([-2, -1, ...Array.from({ length: 5000 }, (_, i) => i)]);
});

it('compacts behind its head and goes on in order', () => {
  const q = new ReadyQueue();
  for (let i = 0; i < 20_000; i++) q.push(i);
  for (let i = 0; i < 15_000; i++) q.skip();
  q.compact();
  q.pushFront(7);
  q.push(20_000);
  expect(drain(q)).toEqual([7, ...Array.from({ length: 5001 }, (_, i) => 15_000 + i)]);
  q.push(1);
  expect(drain(q)).toEqual([1]);
});
