/**
 * The packed per-instance record kept in `<p>:study:<id>:state` (one Redis string, record i at
 * byte offset i * STATE_RECORD_BYTES) and mirrored in the conductor's memory. Fixed-size records
 * keep a million instances at 44 MB and let the conductor persist a change with one SETRANGE.
 *
 * | offset | type | field |
 * |---|---|---|
 * | 0 | u8 | state (StepState) |
 * | 1 | u8 | restarts: restart-script runs after timeouts, and Merlin retries and restarts |
 * | 2 | u8 | tries: failed runs of the current command (for --attempts) |
 * | 3 | u8 | flags: bit 0 = the current/last run is the restart command; bit 1 = released; bit 2 = delayed |
 * | 4 | u32 | attempt: number of the current job (job id suffix, fencing token) |
 * | 8 | f64 | submitMs: first enqueue (epoch ms), 0 = never |
 * | 16 | f64 | startMs: start of the last run, 0 = never |
 * | 24 | f64 | endMs: end of the last run, 0 = not ended |
 * | 32 | u32 | pid of the last run's process, 0 = none |
 * | 36 | i16 | exit code of the last run, -1 = none or killed by a signal |
 * | 38 | u16 | worker of the last run: index into the study's worker list, 0 = none |
 * | 40 | u32 | bundle: index of the first instance of the job that carries the current attempt |
 *
 * `bundle` names the job: its id is stepJobId(study, bundle, attempt) (every member of a bundle
 * has the same attempt number); an instance sent alone is its own bundle.
 */
export const STATE_RECORD_BYTES = 44;

/** Byte offset of each field inside a record (the table above). */
export const STATE_OFFSETS = {
  state: 0,
  restarts: 1,
  tries: 2,
  flags: 3,
  attempt: 4,
  submitMs: 8,
  startMs: 16,
  endMs: 24,
  pid: 32,
  exitCode: 36,
  worker: 38,
  bundle: 40,
} as const;

export const STATE_FLAG_RESTART = 1;
/**
 * Ended without success, yet its children run: Merlin's SOFT_FAIL and STOP_WORKERS continue the
 * workflow. A resumed conductor counts such an instance done for readiness.
 */
export const STATE_FLAG_RELEASED = 2;
/** The next job waits the step's `retry_delay` in the queue first (a Merlin RETRY or RESTART). */
export const STATE_FLAG_DELAYED = 4;

export interface StateRecord {
  state: number;
  restarts: number;
  tries: number;
  flags: number;
  attempt: number;
  submitMs: number;
  startMs: number;
  endMs: number;
  pid: number;
  exitCode: number;
  worker: number;
  bundle: number;
}

/** Reads record `i` of a packed state buffer. */
export function readStateRecord(buf: Uint8Array, i: number): StateRecord {
  const v = new DataView(buf.buffer, buf.byteOffset + i * STATE_RECORD_BYTES, STATE_RECORD_BYTES);
  return {
    state: v.getUint8(0),
    restarts: v.getUint8(1),
    tries: v.getUint8(2),
    flags: v.getUint8(3),
    attempt: v.getUint32(4, true),
    submitMs: v.getFloat64(8, true),
    startMs: v.getFloat64(16, true),
    endMs: v.getFloat64(24, true),
    pid: v.getUint32(32, true),
    exitCode: v.getInt16(36, true),
    worker: v.getUint16(38, true),
    bundle: v.getUint32(40, true),
  };
}

/** Writes record `i` into a packed state buffer. */
export function writeStateRecord(buf: Uint8Array, i: number, r: StateRecord): void {
  const v = new DataView(buf.buffer, buf.byteOffset + i * STATE_RECORD_BYTES, STATE_RECORD_BYTES);
  v.setUint8(0, r.state);
  v.setUint8(1, Math.min(255, r.restarts));
  v.setUint8(2, Math.min(255, r.tries));
  v.setUint8(3, r.flags);
  v.setUint32(4, r.attempt, true);
  v.setFloat64(8, r.submitMs, true);
  v.setFloat64(16, r.startMs, true);
  v.setFloat64(24, r.endMs, true);
  v.setUint32(32, r.pid >>> 0, true);
  v.setInt16(36, Math.max(-32768, Math.min(32767, r.exitCode)), true);
  v.setUint16(38, r.worker, true);
  v.setUint32(40, r.bundle, true);
}

/** The state code of record `i`, without decoding the rest. */
export function stateCodeAt(buf: Uint8Array, i: number): number {
  return buf[i * STATE_RECORD_BYTES] ?? 0;
}
