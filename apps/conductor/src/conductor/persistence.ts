/**
 * Persistence: the conductor's state written to the study store. Each commit is one Lua call,
 * fenced by the lease, holding the records changed since the last one, the study-record fields
 * set meanwhile and the stream cursors they reflect. Commits may be put off for a moment
 * (COMMIT_DELAY_MS); the streams are trimmed to what was committed; after Redis came back
 * without the study, the next commit writes the whole state again.
 */
import { StudyRecordField as F } from '@maestro/protocol';
import type { StudyStore } from '../redis/index.js';
import { dirtyRanges, type ChangeSet } from './change-set.js';
import type { InstanceRecords } from './instance-records.js';
import type { StreamCursors } from './intake.js';
import { COMMIT_DELAY_MS, READ_BLOCK_MS, TRIM_EVERY_MS } from './timing.js';

export interface PersistenceOptions {
  readonly store: Pick<StudyStore, 'commit' | 'register' | 'trim'>;
  readonly records: InstanceRecords;
  readonly changes: ChangeSet;
  /** The cursors the intake has applied up to; each commit stores them. */
  readonly cursors: StreamCursors;
  readonly leaseTtlMs: number;
  /**
   * Every field of the study record, for writing it whole again (Redis lost the study), and
   * when the study was created, to list it again.
   */
  readonly wholeRecord: () => { fields: Record<string, string>; createdMs: number };
}

export class StudyPersistence {
  readonly #o: PersistenceOptions;
  /** The cursors of the last commit: streams are trimmed to them, never past what is written. */
  #committed: StreamCursors;
  /** When the first change still waiting for a commit was put off (0: none). */
  #deferredSince = 0;
  #rewrite = false;
  #lastTrim = 0;

  constructor(options: PersistenceOptions) {
    this.#o = options;
    this.#committed = { ...options.cursors };
  }

  /** Whether changes were put off and wait for a commit. */
  get deferred(): boolean {
    return this.#deferredSince !== 0;
  }

  /** How long the next read may block: until a put-off commit is due, else READ_BLOCK_MS. */
  readBlockMs(now: number): number {
    return this.#deferredSince ? Math.max(1, this.#deferredSince + COMMIT_DELAY_MS - now) : READ_BLOCK_MS;
  }

  /** Puts off a commit (see COMMIT_DELAY_MS); false once one has waited that long: commit now. */
  defer(now: number): boolean {
    this.#deferredSince ||= now;
    return now - this.#deferredSince < COMMIT_DELAY_MS;
  }

  /** Redis lost the study: the next commit writes every record and field again. */
  rewriteAll(): void {
    this.#rewrite = true;
  }

  /**
   * Writes the changes and the cursors. `enqueue` (adding the jobs this commit made PENDING) is
   * sent right after the commit without waiting for its reply: both travel on one connection, so
   * Redis runs the commit first and a chain's child is enqueued one round trip sooner. Should the
   * commit be refused (lease lost: the enqueue ran anyway), the fence keeps the jobs harmless: a
   * newer conductor enqueues the same ids (a no-op) or refuses their claims as stale.
   */
  async commit(enqueue?: () => Promise<void>): Promise<void> {
    const o = this.#o;
    const taken = o.changes.take();
    let ranges: [number, Uint8Array][];
    let fields: Record<string, string>;
    if (this.#rewrite) {
      const whole = o.wholeRecord();
      ranges = [[0, o.records.bytes]];
      fields = { ...whole.fields, ...taken.fields };
      await o.store.register(whole.createdMs);
      this.#rewrite = false;
    } else {
      ranges = dirtyRanges(o.records, taken.dirty);
      fields = { ...taken.fields };
    }
    const cursors = { ...o.cursors };
    fields[F.cursor] = cursors.events;
    fields[F.controlCursor] = cursors.control;
    const committed = o.store.commit({ fields, ranges, fenceDeletes: taken.fenceDeletes }, o.leaseTtlMs);
    const [commit, enqueued] = await Promise.allSettled([committed, enqueue?.()]);
    if (commit.status === 'rejected') throw commit.reason;
    if (enqueued.status === 'rejected') throw enqueued.reason;
    this.#committed = cursors;
    this.#deferredSince = 0;
  }

  /** Whether TRIM_EVERY_MS has passed since the last trim. */
  trimDue(now: number): boolean {
    return now - this.#lastTrim > TRIM_EVERY_MS;
  }

  /** Drops stream entries the committed state already reflects. */
  async trim(now: number): Promise<void> {
    this.#lastTrim = now;
    await this.#o.store.trim(this.#committed.events, this.#committed.control);
  }
}
