/**
 * The packed per-instance records (layout in @maestro/protocol state-record.ts), read and written
 * in place: a million instances are one 44 MB buffer, with no object per instance.
 */
import { STATE_OFFSETS as O, STATE_RECORD_BYTES as B, readStateRecord, type StateRecord } from '@maestro/protocol';

export class InstanceRecords {
  /**
   * Instances per block of {@link versions}. Small enough that the few instances changing at a
   * time (those running) make little of status.csv to format again at each write.
   */
  static readonly BLOCK = 100;
  readonly view: DataView;
  /**
   * A counter per block of BLOCK instances, bumped by every setter: whoever keeps something
   * derived from a block (status.csv's text) can tell whether the block changed since.
   */
  readonly versions: Uint32Array;
  constructor(
    readonly bytes: Uint8Array,
    readonly count: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.versions = new Uint32Array(Math.ceil(count / InstanceRecords.BLOCK));
  }
  /** Every record at once (a resumed study's, read back from Redis). */
  replaceAll(bytes: Uint8Array): void {
    this.bytes.set(bytes);
    for (let k = 0; k < this.versions.length; k++) this.versions[k]!++;
  }
  #changed(i: number): void {
    this.versions[(i / InstanceRecords.BLOCK) | 0]!++;
  }
  static empty(count: number): InstanceRecords {
    return new InstanceRecords(new Uint8Array(count * B), count);
  }

  state(i: number): number {
    return this.bytes[i * B + O.state]!;
  }
  setState(i: number, v: number): void {
    this.bytes[i * B + O.state] = v;
    this.#changed(i);
  }
  restarts(i: number): number {
    return this.bytes[i * B + O.restarts]!;
  }
  setRestarts(i: number, v: number): void {
    this.bytes[i * B + O.restarts] = Math.min(255, v);
    this.#changed(i);
  }
  tries(i: number): number {
    return this.bytes[i * B + O.tries]!;
  }
  setTries(i: number, v: number): void {
    this.bytes[i * B + O.tries] = Math.min(255, v);
    this.#changed(i);
  }
  flags(i: number): number {
    return this.bytes[i * B + O.flags]!;
  }
  setFlags(i: number, v: number): void {
    this.bytes[i * B + O.flags] = v;
    this.#changed(i);
  }
  attempt(i: number): number {
    return this.view.getUint32(i * B + O.attempt, true);
  }
  setAttempt(i: number, v: number): void {
    this.view.setUint32(i * B + O.attempt, v, true);
    this.#changed(i);
  }
  submitMs(i: number): number {
    return this.view.getFloat64(i * B + O.submitMs, true);
  }
  setSubmitMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.submitMs, v, true);
    this.#changed(i);
  }
  startMs(i: number): number {
    return this.view.getFloat64(i * B + O.startMs, true);
  }
  setStartMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.startMs, v, true);
    this.#changed(i);
  }
  endMs(i: number): number {
    return this.view.getFloat64(i * B + O.endMs, true);
  }
  setEndMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.endMs, v, true);
    this.#changed(i);
  }
  setPid(i: number, v: number): void {
    this.view.setUint32(i * B + O.pid, v >>> 0, true);
    this.#changed(i);
  }
  setExitCode(i: number, v: number): void {
    this.view.setInt16(i * B + O.exitCode, Math.max(-32768, Math.min(32767, v)), true);
    this.#changed(i);
  }
  setWorker(i: number, v: number): void {
    this.view.setUint16(i * B + O.worker, v, true);
    this.#changed(i);
  }
  bundle(i: number): number {
    return this.view.getUint32(i * B + O.bundle, true);
  }
  setBundle(i: number, v: number): void {
    this.view.setUint32(i * B + O.bundle, v, true);
    this.#changed(i);
  }
  record(i: number): StateRecord {
    return readStateRecord(this.bytes, i);
  }
  /** The bytes of records [from, to), for a SETRANGE. */
  slice(from: number, to: number): Uint8Array {
    return this.bytes.subarray(from * B, to * B);
  }
}
