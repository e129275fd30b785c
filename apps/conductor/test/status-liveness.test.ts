/**
 * Telling a study nobody conducts from one that waits: the heartbeat in status.json, the
 * conductor's process on this host, the lease in Redis; and what `status` says of it.
 */
import { describe, expect, it } from 'vitest';
import { makePalette } from '../src/status/colour.js';
import type { ConductorHeartbeat, StatusJson } from '../src/status/files.js';
import { conductorNotice, judgeConductor, staleAfterMs } from '../src/status/liveness.js';
import { renderStudyStatus, summaryLine } from '../src/status/view.js';

const now = Date.parse('2026-01-01T10:00:30Z');
const beat = (ageMs: number, over: Partial<ConductorHeartbeat> = {}): ConductorHeartbeat => ({
  host: 'node12',
  pid: 4242,
  heartbeatAt: new Date(now - ageMs).toISOString(),
  heartbeatMs: 5000,
  ...over,
});
const lease = (holder: string | null, heartbeatMs?: number) => ({
  holder,
  state: 'RUNNING',
  conductor: 'node12:4242',
  heartbeatMs,
});

describe('judgeConductor', () => {
  it('from the files alone: a recent heartbeat is a conductor, one older than four beats and 5 s is none', () => {
    expect(staleAfterMs(5000)).toBe(25_000);
    expect(judgeConductor({ now, heartbeat: beat(20_000) })).toMatchObject({ state: 'running', evidence: 'heartbeat' });
    expect(judgeConductor({ now, heartbeat: beat(26_000) })).toEqual({
      state: 'gone',
      host: 'node12',
      pid: 4242,
      lastSeenMs: now - 26_000,
      evidence: 'heartbeat',
    });
  });

  it('cannot tell from files of an older version without Redis', () => {
    expect(judgeConductor({ now, heartbeat: undefined })).toMatchObject({ state: 'unknown', evidence: 'none' });
  });

  it('takes a conductor that said it stopped at its word', () => {
    const stopped = beat(1000, { stoppedAt: new Date(now - 1000).toISOString() });
    expect(judgeConductor({ now, heartbeat: stopped })).toMatchObject({
      state: 'gone',
      evidence: 'stopped',
      lastSeenMs: now - 1000,
    });
  });

  it("on the conductor's host: a process gone is no conductor, unless its heartbeat is too recent for that", () => {
    expect(judgeConductor({ now, heartbeat: beat(11_000), pidAlive: false })).toMatchObject({
      state: 'gone',
      evidence: 'process',
    });
    // Another pid namespace sees no such process though the conductor writes every 5 s.
    expect(judgeConductor({ now, heartbeat: beat(3000), pidAlive: false })).toMatchObject({ state: 'running' });
  });

  it('with Redis: a held lease is a conductor, whoever holds it; none held and no recent heartbeat is none', () => {
    expect(judgeConductor({ now, heartbeat: beat(60_000), lease: lease('node7:99:ab12') })).toMatchObject({
      state: 'running',
      host: 'node7',
      pid: 99,
      evidence: 'lease',
    });
    expect(judgeConductor({ now, heartbeat: beat(12_000), lease: lease(null, now - 9000) })).toMatchObject({
      state: 'gone',
      evidence: 'lease',
      lastSeenMs: now - 9000,
    });
    // No status.json heartbeat (the dashboard): the lease alone.
    expect(judgeConductor({ now, heartbeat: undefined, lease: lease(null) })).toMatchObject({
      state: 'gone',
      host: 'node12',
      pid: 4242,
      lastSeenMs: undefined,
    });
    // A conductor taking its lease back after Redis restarted writes on meanwhile.
    expect(judgeConductor({ now, heartbeat: beat(2000), lease: lease(null) })).toMatchObject({ state: 'running' });
  });

  it('a lease whose holder died on this host is no conductor before it expires', () => {
    expect(
      judgeConductor({ now, heartbeat: beat(11_000), lease: lease('node12:4242:ab12'), holderAlive: false }),
    ).toMatchObject({ state: 'gone', evidence: 'process' });
  });
});

describe('what status says of a study nobody conducts', () => {
  const gone = judgeConductor({ now, heartbeat: beat(40_000) });
  const summary: StatusJson = {
    id: 's',
    name: 'demo',
    root: '/r',
    state: 'RUNNING',
    total: 2,
    counts: { FINISHED: 1, RUNNING: 1 },
    running: 1,
    queued: 0,
    ratePerSec: 0.1,
    etaMs: 0,
    startedAt: new Date(now - 100_000).toISOString(),
    updatedAt: new Date(now - 40_000).toISOString(),
    steps: [{ name: 'a', total: 2, counts: { FINISHED: 1, RUNNING: 1 } }],
    conductor: beat(40_000),
  };
  const plain = makePalette(false);

  it('names it, says since when and how to go on', () => {
    expect(conductorNotice(gone, '/r', now)).toMatch(
      /^conductor not running since \d\d:\d\d:\d\d \(node12, pid 4242\); continue the study with: maestro resume \/r$/,
    );
    expect(conductorNotice(judgeConductor({ now, heartbeat: beat(1000) }), '/r', now)).toBeUndefined();
  });

  it('has no ETA, and its clock stops at its last sign of life', () => {
    expect(summaryLine(summary, plain, now, gone)).toBe(
      'State: RUNNING (no conductor) | 2 instances: FINISHED 1, RUNNING 1 | elapsed 1m00s | ETA --',
    );
    expect(summaryLine(summary, plain, now)).toMatch(/elapsed 1m40s \| ETA 0s$/);
  });

  it('puts the notice right under the summary', () => {
    const lines = renderStudyStatus(
      { name: 'demo', root: '/r', summary, state: 'RUNNING', rows: [], conductor: gone },
      { palette: plain, layout: 'flat', failedOnly: false, now },
    );
    expect(lines[2]).toMatch(/^Conductor not running since .*; continue the study with: maestro resume \/r$/);
  });
});
