/**
 * A conductor of an expanded study on a real Redis, wired as `maestro run` wires it (its own
 * connections for commands, the event stream and the queues), for the integration tests.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { ExpandedStudy } from '@maestro/spec';
import { Conductor, type BundlePolicy, type ConductorLimits } from '../../src/conductor/conductor.js';
import { StepQueues } from '../../src/queue/step-queues.js';
import { StudyStore } from '../../src/redis/study-store.js';

export interface TestConductorOptions {
  limits?: Partial<ConductorLimits>;
  /** Most jobs waiting in Redis at once; 1000 unless given. */
  window?: number;
  /** Key prefix; a fresh one unless given (give another conductor's to share its Redis keys). */
  prefix?: string;
  studyId?: string;
  bundle?: BundlePolicy;
  /** Silent unless given (or CONDUCTOR_LOG names a level). */
  log?: Logger;
  /** How long a missing job waits before it runs again; the conductor's default unless given. */
  lostGraceMs?: number;
}

export interface TestConductor {
  conductor: Conductor;
  prefix: string;
  studyId: string;
  /** The command connection, for reading what the conductor wrote. */
  redis: Redis;
  /** Closes the queues and the connections; the conductor must have stopped. */
  close(): Promise<void>;
}

export function testConductor(url: string, x: ExpandedStudy, opts: TestConductorOptions = {}): TestConductor {
  const prefix = opts.prefix ?? `t${randomUUID().slice(0, 8)}`;
  const studyId = opts.studyId ?? 'study-1';
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const reader = new Redis(url, { maxRetriesPerRequest: null });
  const qconn = new Redis(url, { maxRetriesPerRequest: null });
  const queues = new StepQueues(qconn, prefix);
  const conductor = new Conductor({
    expanded: x,
    studyId,
    prefix,
    store: new StudyStore(redis, reader, prefix, studyId),
    queues,
    log: opts.log ?? pino({ level: process.env['CONDUCTOR_LOG'] ?? 'silent' }),
    limits: opts.limits ?? {},
    window: opts.window ?? 1000,
    bundle: opts.bundle,
    cancelGraceMs: 2000,
    leaseTtlMs: 3000,
    lostGraceMs: opts.lostGraceMs,
    publicMeta: { name: x.name },
  });
  const close = async (): Promise<void> => {
    await queues.close();
    for (const c of [redis, reader, qconn]) c.disconnect();
  };
  return { conductor, prefix, studyId, redis, close };
}
