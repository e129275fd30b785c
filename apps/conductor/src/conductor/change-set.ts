/**
 * What changed since the last commit: the instances whose records to write, the fence entries to
 * delete (their instances ended) and the study-record fields to set. The state machine adds to
 * it; the persistence takes it whole at each commit.
 */
import { STATE_RECORD_BYTES } from '@maestro/protocol';
import type { InstanceRecords } from './instance-records.js';

export interface TakenChanges {
  /** Instances whose records changed, ascending. */
  readonly dirty: readonly number[];
  readonly fenceDeletes: readonly number[];
  readonly fields: Readonly<Record<string, string>>;
}

export class ChangeSet {
  /** 1 while instance i is in `#dirty`: each record is written once per commit. */
  readonly #isDirty: Uint8Array;
  #dirty: number[] = [];
  #fenceDeletes: number[] = [];
  #fields: Record<string, string> = {};

  constructor(instanceCount: number) {
    this.#isDirty = new Uint8Array(instanceCount);
  }

  /** Instance `i`'s record changed. */
  touch(i: number): void {
    if (!this.#isDirty[i]) {
      this.#isDirty[i] = 1;
      this.#dirty.push(i);
    }
  }

  /** Instance `i` ended: the fence no longer needs its entry. */
  deleteFence(i: number): void {
    this.#fenceDeletes.push(i);
  }

  setField(name: string, value: string): void {
    this.#fields[name] = value;
  }

  /** Whether anything waits to be written. */
  get pending(): boolean {
    return this.#dirty.length > 0 || this.#fenceDeletes.length > 0 || Object.keys(this.#fields).length > 0;
  }

  /** Everything changed so far, leaving the set empty: what changes during a commit goes to the next. */
  take(): TakenChanges {
    const dirty = this.#dirty.sort((a, b) => a - b);
    for (const i of dirty) this.#isDirty[i] = 0;
    const taken = { dirty, fenceDeletes: this.#fenceDeletes, fields: this.#fields };
    this.#dirty = [];
    this.#fenceDeletes = [];
    this.#fields = {};
    return taken;
  }
}

/** The byte ranges of the packed state that hold the `dirty` records (ascending), runs merged. */
export function dirtyRanges(records: InstanceRecords, dirty: readonly number[]): [number, Uint8Array][] {
  const ranges: [number, Uint8Array][] = [];
  for (let k = 0; k < dirty.length;) {
    const from = dirty[k]!;
    let to = from + 1;
    while (k + 1 < dirty.length && dirty[k + 1] === to) {
      k++;
      to++;
    }
    k++;
    ranges.push([from * STATE_RECORD_BYTES, records.slice(from, to)]);
  }
  return ranges;
}
