/** The heartbeat: the worker record it writes, and the standing drain it looks for. */
import { describe, expect, it, vi } from 'vitest';
import { WorkerRecord } from '@maestro/protocol';
import { Heartbeat, type HeartbeatParts, type Presence } from '../src/heartbeat.js';
import type { WorkerState } from '../src/lifecycle.js';
import { captureLogs } from './helpers.js';

function heartbeat(presence: Partial<Presence> = {}, over: Partial<HeartbeatParts> = {}) {
  let t = 1_000;
  const written: WorkerRecord[] = [];
  const logs = captureLogs('info');
  const lifecycle = { state: 'running' as WorkerState };
  const onDrainRequested = vi.fn();
  const forgetExpired = vi.fn();
  const beat = new Heartbeat({
    presence: {
      beat: async (record) => {
        written.push(record);
        return false;
      },
      joinStudy: async () => undefined,
      remove: async () => undefined,
      ...presence,
    },
    config: {
      name: 'w1',
      host: 'node7',
      queues: ['steps', 'gpu'],
      concurrency: 4,
      cores: 8,
      gpuIds: ['0', '1'],
      nodes: 1,
      allocationId: '42',
      scheduler: 'slurm',
    },
    slots: { freeCores: 6, freeGpus: 1 },
    running: { size: 2 },
    results: { done: 17 },
    allocation: { endsAt: 90_000, stopAt: 30_000 },
    lifecycle,
    control: { forgetExpired },
    now: () => t,
    log: logs.logger,
    warn: (write) => write(),
    onDrainRequested,
    ...over,
  });
  return { beat, written, logs, lifecycle, onDrainRequested, forgetExpired, advance: (ms: number) => (t += ms) };
}

describe('Heartbeat', () => {
  it('writes a record the conductor can parse, from the parts that know each field', async () => {
    const x = heartbeat();
    x.advance(500);
    await x.beat.beat();
    expect(x.written).toHaveLength(1);
    expect(WorkerRecord.parse(JSON.parse(JSON.stringify(x.written[0])))).toMatchObject({
      name: 'w1',
      host: 'node7',
      pid: process.pid,
      queues: 'steps,gpu',
      slots: 4,
      cores: 8,
      gpus: 2,
      freeCores: 6,
      freeGpus: 1,
      running: 2,
      done: 17,
      startedAt: 1_000,
      lastSeen: 1_500,
      allocationId: '42',
      allocationEndsAt: 90_000,
      stopAt: 30_000,
      state: 'running',
    });
    expect(x.forgetExpired).toHaveBeenCalledOnce();
  });

  it('leaves out the allocation fields of a worker that has none', () => {
    const x = heartbeat({}, { allocation: { endsAt: undefined, stopAt: undefined } });
    expect(Object.keys(x.beat.record())).not.toContain('allocationEndsAt');
    expect(Object.keys(x.beat.record())).not.toContain('stopAt');
  });

  it('drains on a standing request only while the worker runs', async () => {
    const x = heartbeat({ beat: async () => true });
    await x.beat.beat();
    expect(x.onDrainRequested).toHaveBeenCalledOnce();
    x.lifecycle.state = 'draining';
    await x.beat.beat();
    expect(x.onDrainRequested).toHaveBeenCalledOnce();
  });

  it('warns of a beat that failed, and never throws', async () => {
    const x = heartbeat({ beat: async () => Promise.reject(new Error('connection is closed')) });
    await x.beat.beat();
    expect(x.logs.lines).toEqual([expect.objectContaining({ msg: 'heartbeat failed' })]);
  });
});
