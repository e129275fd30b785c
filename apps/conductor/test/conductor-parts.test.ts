/**
 * The conductor's parts other than the state machine, without Redis, on a clock the test drives:
 * dispatch (window, throttle, bundles and their probe, chains), persistence (put-off commits,
 * trims, the whole state written again) and the lease.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { StudyRecordField as F, STATE_RECORD_BYTES } from '@maestro/protocol';
import { ChangeSet } from '../src/conductor/change-set.js';
import { InstanceRecords } from '../src/conductor/instance-records.js';
import { ConductorBusyError, StudyLease } from '../src/conductor/lease.js';
import { StudyPersistence } from '../src/conductor/persistence.js';
import {
  COMMIT_DELAY_MS,
  PROBE_INSTANCES,
  PROBE_WAIT_MS,
  READ_BLOCK_MS,
  TRIM_EVERY_MS,
} from '../src/conductor/timing.js';
import type { Commit } from '../src/redis/study-store.js';
import { expand, machineOf, result, started, sweep } from './helpers/machine-study.js';

const log = pino({ level: 'silent' });
const line = (n: number): string =>
  `study:\n${Array.from({ length: n }, (_, k) => `  - {name: s${k}, description: d, run: {cmd: "c${k}"${k ? `, depends: [s${k - 1}]` : ''}}}`).join('\n')}\n`;

describe('Dispatcher', () => {
  it('keeps at most --window queued and --throttle in flight', () => {
    const windowed = machineOf(expand(sweep(10)), { window: 4 });
    expect(windowed.d.next(0)).toHaveLength(4);
    expect(windowed.d.next(0)).toHaveLength(0);
    windowed.m.applyEvent(result(0, 1, 'succeeded'), 0);
    expect(windowed.d.next(0).map((j) => j.data.index)).toEqual([4]);

    const throttled = machineOf(expand(sweep(10)), { limits: { throttle: 3 } });
    expect(throttled.d.next(0)).toHaveLength(3);
    throttled.m.applyEvent(started(0, 1), 0);
    expect(throttled.d.next(0)).toHaveLength(0); // running counts too
  });

  it('times a step on its first instances, holds the rest until they end or PROBE_WAIT_MS passes', () => {
    const bundle = { maxSize: 8, targetMs: 200 };
    const f = machineOf(expand(sweep(400)), { bundle });
    const t0 = 10_000;
    const first = f.d.next(t0);
    expect(first.map((j) => j.data.more?.length ?? 0)).toEqual(Array(PROBE_INSTANCES).fill(0));
    expect(f.d.next(t0 + PROBE_WAIT_MS - 1)).toEqual([]); // held while the probe runs
    // Four short runs time the step (10 ms each): bundles of 8 now.
    for (let i = 0; i < 4; i++) f.m.applyEvent(result(i, 1, 'succeeded'), t0 + 50);
    const bundled = f.d.next(t0 + 50);
    expect(bundled[0]!.data.more).toHaveLength(7);
    expect(bundled[0]!.data.bundleBudgetMs).toBe(1000);

    // A step whose probe never ends: past PROBE_WAIT_MS, every instance goes alone.
    const slow = machineOf(expand(sweep(100)), { bundle });
    slow.d.next(t0);
    expect(slow.d.next(t0 + PROBE_WAIT_MS).every((j) => j.data.more === undefined)).toBe(true);
  });

  it('sends a line of steps as one chain job, only with a bundle policy and no throttle', () => {
    const chained = machineOf(expand(line(4)), { bundle: { maxSize: 8, targetMs: 200 } });
    const [job] = chained.d.next(0);
    expect(job!.data.chain).toBe(true);
    expect([job!.data.index, ...job!.data.more!.map((m) => m.index)]).toEqual([0, 1, 2, 3]);
    expect(chained.d.allAlwaysAlone([job!])).toBe(false);
    const plain = machineOf(expand(line(4)));
    const alone = plain.d.next(0);
    expect(alone.map((j) => j.data.index)).toEqual([0]);
    expect(plain.d.allAlwaysAlone(alone)).toBe(true);
    const throttled = machineOf(expand(line(4)), { bundle: { maxSize: 8, targetMs: 200 }, limits: { throttle: 2 } });
    expect(throttled.d.next(0)[0]!.data.chain).toBeUndefined();
  });

  it('sends nothing once a cancel is asked for', () => {
    const f = machineOf(expand(sweep(3)));
    f.m.requestCancel();
    expect(f.d.next(0)).toEqual([]);
  });
});

/** A study store that keeps what it is asked to write. */
function memoryStore() {
  const commits: Commit[] = [];
  const trims: [string, string][] = [];
  const registered: number[] = [];
  return {
    commits,
    trims,
    registered,
    commit: async (c: Commit) => void commits.push(c),
    trim: async (e: string, c: string) => void trims.push([e, c]),
    register: async (ms: number) => void registered.push(ms),
  };
}

describe('StudyPersistence', () => {
  function setup() {
    const records = InstanceRecords.empty(10);
    const changes = new ChangeSet(10);
    const cursors = { events: '5-0', control: '0' };
    const store = memoryStore();
    const p = new StudyPersistence({
      store,
      records,
      changes,
      cursors,
      leaseTtlMs: 1000,
      wholeRecord: () => ({ fields: { [F.state]: 'RUNNING' }, createdMs: 42 }),
    });
    return { records, changes, cursors, store, p };
  }

  it('puts a commit off for COMMIT_DELAY_MS at most, and blocks reads no longer than until then', () => {
    const { p } = setup();
    expect(p.readBlockMs(1000)).toBe(READ_BLOCK_MS);
    expect(p.defer(1000)).toBe(true);
    expect(p.deferred).toBe(true);
    expect(p.readBlockMs(1100)).toBe(COMMIT_DELAY_MS - 100);
    expect(p.defer(1000 + COMMIT_DELAY_MS - 1)).toBe(true);
    expect(p.defer(1000 + COMMIT_DELAY_MS)).toBe(false); // commit now
    expect(p.readBlockMs(5000)).toBe(1);
  });

  it('writes the changed records in merged ranges, the fields, the fence deletes and the cursors', async () => {
    const { records, changes, cursors, store, p } = setup();
    for (const i of [3, 1, 2, 7]) {
      records.setState(i, 5);
      changes.touch(i);
    }
    changes.deleteFence(7);
    changes.setField(F.counts, '{}');
    cursors.events = '9-0';
    p.defer(1);
    await p.commit();
    expect(p.deferred).toBe(false);
    const [c] = store.commits;
    expect(
      c!.ranges.map(([offset, bytes]) => [offset / STATE_RECORD_BYTES, bytes.length / STATE_RECORD_BYTES]),
    ).toEqual([
      [1, 3],
      [7, 1],
    ]);
    expect(c!.fields).toEqual({ [F.counts]: '{}', [F.cursor]: '9-0', [F.controlCursor]: '0' });
    expect(c!.fenceDeletes).toEqual([7]);
    expect(changes.pending).toBe(false);
  });

  it('trims the streams to the committed cursors, every TRIM_EVERY_MS', async () => {
    const { cursors, store, p } = setup();
    const trimIfDue = async (now: number): Promise<void> => {
      if (p.trimDue(now)) await p.trim(now);
    };
    await trimIfDue(TRIM_EVERY_MS + 1);
    cursors.events = '12-0'; // applied, not committed yet
    await trimIfDue(TRIM_EVERY_MS + 2);
    await trimIfDue(2 * TRIM_EVERY_MS + 2);
    expect(store.trims).toEqual([
      ['5-0', '0'],
      ['5-0', '0'],
    ]);
  });

  it('after Redis lost the study, writes every record and field again, once', async () => {
    const { store, p } = setup();
    p.rewriteAll();
    await p.commit();
    await p.commit();
    expect(store.registered).toEqual([42]);
    expect(store.commits[0]!.ranges).toEqual([[0, expect.any(Uint8Array)]]);
    expect(store.commits[0]!.ranges[0]![1].length).toBe(10 * STATE_RECORD_BYTES);
    expect(store.commits[0]!.fields).toMatchObject({ [F.state]: 'RUNNING' });
    expect(store.commits[1]!.ranges).toEqual([]);
  });
});

describe('StudyLease', () => {
  /** A lease held by `holder` whose time to live goes as `ttls` says, on a clock moved by sleep. */
  function lease(ttls: number[], opts: { freeAfter?: number } = {}) {
    let now = 0;
    let asked = 0;
    const store = {
      acquireLease: async (): Promise<{ acquired: true } | { acquired: false; holder: string; ttlMs: number }> => {
        asked++;
        if (opts.freeAfter !== undefined && asked > opts.freeAfter) return { acquired: true };
        return { acquired: false, holder: 'node1:77:abc', ttlMs: ttls[Math.min(asked - 1, ttls.length - 1)]! };
      },
      renewLease: async () => true,
      releaseLease: async () => undefined,
    };
    const l = new StudyLease({
      store,
      ttlMs: 1000,
      log,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    return { l, asked: () => asked };
  }

  it('waits for the lease of a conductor that died to lapse', async () => {
    const { l, asked } = lease([900, 650, 400, 150], { freeAfter: 4 });
    await l.take();
    await l.release();
    expect(asked()).toBe(5);
  });

  it('gives up when the holder renews it (alive), or when it does not lapse in time', async () => {
    await expect(lease([900, 650, 990]).l.take()).rejects.toThrow(ConductorBusyError);
    await expect(lease([900]).l.take()).rejects.toThrow(/another conductor \(host node1, pid 77\)/);
  });
});
