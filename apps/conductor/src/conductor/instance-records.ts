/**
 * The packed per-instance records (layout in @maestro/protocol state-record.ts), read and written
 * in place: a million instances are one 40 MB buffer, with no object per instance.
 */
import { STATE_OFFSETS as O, STATE_RECORD_BYTES as B, readStateRecord, type StateRecord } from '@maestro/protocol';

export class InstanceRecords {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly count: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  static empty(count: number): InstanceRecords {
    return new InstanceRecords(new Uint8Array(count * B), count);
  }

  state(i: number): number {
    return this.bytes[i * B + O.state]!;
  }
  setState(i: number, v: number): void {
    this.bytes[i * B + O.state] = v;
  }
  restarts(i: number): number {
    return this.bytes[i * B + O.restarts]!;
  }
  setRestarts(i: number, v: number): void {
    this.bytes[i * B + O.restarts] = Math.min(255, v);
  }
  tries(i: number): number {
    return this.bytes[i * B + O.tries]!;
  }
  setTries(i: number, v: number): void {
    this.bytes[i * B + O.tries] = Math.min(255, v);
  }
  flags(i: number): number {
    return this.bytes[i * B + O.flags]!;
  }
  setFlags(i: number, v: number): void {
    this.bytes[i * B + O.flags] = v;
  }
  attempt(i: number): number {
    return this.view.getUint32(i * B + O.attempt, true);
  }
  setAttempt(i: number, v: number): void {
    this.view.setUint32(i * B + O.attempt, v, true);
  }
  submitMs(i: number): number {
    return this.view.getFloat64(i * B + O.submitMs, true);
  }
  setSubmitMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.submitMs, v, true);
  }
  startMs(i: number): number {
    return this.view.getFloat64(i * B + O.startMs, true);
  }
  setStartMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.startMs, v, true);
  }
  endMs(i: number): number {
    return this.view.getFloat64(i * B + O.endMs, true);
  }
  setEndMs(i: number, v: number): void {
    this.view.setFloat64(i * B + O.endMs, v, true);
  }
  setPid(i: number, v: number): void {
    this.view.setUint32(i * B + O.pid, v >>> 0, true);
  }
  setExitCode(i: number, v: number): void {
    this.view.setInt16(i * B + O.exitCode, Math.max(-32768, Math.min(32767, v)), true);
  }
  setWorker(i: number, v: number): void {
    this.view.setUint16(i * B + O.worker, v, true);
  }
  record(i: number): StateRecord {
    return readStateRecord(this.bytes, i);
  }
  /** The bytes of records [from, to), for a SETRANGE. */
  slice(from: number, to: number): Uint8Array {
    return this.bytes.subarray(from * B, to * B);
  }
}
