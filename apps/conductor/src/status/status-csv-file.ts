/**
 * status.csv, rewritten while a study runs, in blocks of InstanceRecords.BLOCK rows. A block
 * whose records have not changed since the last write (same version) is copied from the file
 * written last time, not formatted again: in a big study most rows are done or not yet started,
 * and formatting every row at every write was a large part of the conductor's CPU
 * (docs/performance.md). The cache is the previous file itself, read back through the page
 * cache: keeping each block's text in memory cost 133 bytes per instance (1.3 GB at ten
 * million), where a byte offset per block costs 0.12.
 */
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { StepState, stepStateName, formatStatusRow, STATUS_CSV_HEADER } from '@maestro/protocol';
import type { Conductor } from '../conductor/index.js';
import { InstanceRecords } from '../conductor/index.js';

/** Rows built between two yields to the event loop (~40 ms of work). */
const CSV_ROWS_PER_YIELD = 20_000;
/** Bytes copied from the last file between two yields, and read at once. */
const COPY_CHUNK_BYTES = 8 << 20;
/** A block's version when it has no rows in the last file. */
const NOT_WRITTEN = 0xffffffff;

/** Where the last file holds each block, and which version of the block it holds. */
interface LastFile {
  readonly records: InstanceRecords;
  /** Block k's rows are at bytes [offsets[k], offsets[k + 1]) of the file. */
  readonly offsets: Float64Array;
  readonly versions: Uint32Array;
  /** The file as written (inode, size): a file changed by someone else is not copied from. */
  ino: number;
  size: number;
}

export class StatusCsvFile {
  #last: LastFile | undefined;

  constructor(private readonly file: string) {}

  /**
   * Writes the file whole (to a temporary name, then renamed). Rows are formatted or copied in
   * slices written synchronously, yielding to the event loop between slices: awaiting one small
   * asynchronous write per block would let each wait behind a whole conductor batch, and a
   * million rows would take minutes.
   */
  async write(c: Conductor): Promise<void> {
    const x = c.expanded;
    const r = c.records;
    const blocks = Math.ceil(x.instanceCount / InstanceRecords.BLOCK);
    const last = this.#usableLast(r, blocks);
    const next: LastFile = {
      records: r,
      offsets: new Float64Array(blocks + 1),
      versions: new Uint32Array(blocks).fill(NOT_WRITTEN),
      ino: 0,
      size: 0,
    };
    const tmp = `${this.file}.tmp`;
    const out = openSync(tmp, 'w');
    let from: number | undefined;
    try {
      from = last ? openSync(this.file, 'r') : undefined;
      const copier = new RangeCopier(from, out);
      let at = copier.write(Buffer.from(`${STATUS_CSV_HEADER}\n`));
      let built = 0;
      for (let k = 0; k < blocks; k++) {
        next.offsets[k] = at;
        const version = r.versions[k]!;
        if (last && last.versions[k] === version) {
          at += copier.copy(last.offsets[k]!, last.offsets[k + 1]! - last.offsets[k]!);
        } else {
          const first = k * InstanceRecords.BLOCK;
          const end = Math.min(x.instanceCount, first + InstanceRecords.BLOCK);
          at += copier.write(Buffer.from(csvRows(c, first, end)));
          built += end - first;
        }
        next.versions[k] = version;
        if (built >= CSV_ROWS_PER_YIELD || copier.copiedSinceYield >= COPY_CHUNK_BYTES) {
          copier.flush();
          built = 0;
          copier.copiedSinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      copier.flush();
      next.offsets[blocks] = at;
      next.size = at;
    } catch (err) {
      this.#last = undefined;
      throw err;
    } finally {
      closeSync(out);
      if (from !== undefined) closeSync(from);
    }
    await rename(tmp, this.file);
    next.ino = statSync(this.file).ino;
    this.#last = next;
  }

  /** What the last write left, if the file is still the one it wrote for these records. */
  #usableLast(r: InstanceRecords, blocks: number): LastFile | undefined {
    const last = this.#last;
    this.#last = undefined;
    if (!last || last.records !== r || last.versions.length !== blocks) return undefined;
    try {
      const st = statSync(this.file);
      return st.ino === last.ino && st.size === last.size ? last : undefined;
    } catch {
      return undefined; // removed: every row is formatted again
    }
  }
}

/**
 * Writes to `out` and copies ranges of `from` to it, merging adjacent ranges into one read and
 * one write of up to COPY_CHUNK_BYTES (unchanged blocks usually come in long runs).
 */
class RangeCopier {
  #pendingFrom = 0;
  #pendingBytes = 0;
  #buffer: Buffer | undefined;
  copiedSinceYield = 0;

  constructor(
    private readonly from: number | undefined,
    private readonly out: number,
  ) {}

  /** Writes `bytes` after what is pending; returns their length. */
  write(bytes: Buffer): number {
    this.flush();
    writeSync(this.out, bytes);
    return bytes.length;
  }

  /** Copies `length` bytes at `offset` of the source (later, merged with its neighbours); returns `length`. */
  copy(offset: number, length: number): number {
    if (this.#pendingBytes > 0 && this.#pendingFrom + this.#pendingBytes !== offset) this.flush();
    if (this.#pendingBytes === 0) this.#pendingFrom = offset;
    this.#pendingBytes += length;
    this.copiedSinceYield += length;
    if (this.#pendingBytes >= COPY_CHUNK_BYTES) this.flush();
    return length;
  }

  flush(): void {
    if (this.#pendingBytes === 0 || this.from === undefined) return;
    this.#buffer ??= Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    let offset = this.#pendingFrom;
    let left = this.#pendingBytes;
    this.#pendingBytes = 0;
    while (left > 0) {
      const want = Math.min(left, this.#buffer.length);
      const got = readSync(this.from, this.#buffer, 0, want, offset);
      if (got !== want) throw new Error(`status.csv changed while it was copied (read ${got} of ${want} bytes)`);
      writeSync(this.out, this.#buffer, 0, got);
      offset += got;
      left -= got;
    }
  }
}

/** status.csv's rows of instances [from, to). */
function csvRows(c: Conductor, from: number, to: number): string {
  const x = c.expanded;
  const r = c.records;
  let text = '';
  for (let i = from; i < to; i++) {
    const inst = x.describe(i);
    const rec = r.record(i);
    text += `${formatStatusRow({
      name: inst.name,
      jobId: rec.pid ? String(rec.pid) : undefined,
      workspace: inst.workspace,
      state: stepStateName(rec.state),
      submitMs: rec.submitMs || undefined,
      startMs: rec.state === StepState.PENDING ? undefined : rec.startMs || undefined,
      endMs: rec.endMs || undefined,
      restarts: rec.restarts,
      params: inst.params,
    })}\n`;
  }
  return text;
}
