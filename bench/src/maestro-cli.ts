/** Runs the built `maestro` command for a benchmark and reads what the study recorded. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import {
  readStateRecord,
  STATE_OFFSETS,
  STATE_RECORD_BYTES,
  stateKey,
  studyKey,
  StepState,
  type StateRecord,
} from '@maestro/protocol';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MAESTRO = path.join(REPO, 'apps/conductor/bin/maestro.js');

/**
 * Writes a study of one no-op step fanned out over N instances, N given at run time by
 * {@link countedStudy} (a pgen, so one spec serves every size).
 */
export function writeCountedStudy(dir: string, name: string, description: string): void {
  writeFileSync(
    path.join(dir, 'spec.yaml'),
    `description: {name: ${name}, description: ${description}}\nstudy:\n  - {name: s, description: d, run: {cmd: "true $(N)"}}\n`,
  );
  writeFileSync(
    path.join(dir, 'gen.mjs'),
    `export function getParameters({ pargs }) {
  const n = Number(pargs.N);
  return { N: { values: Array.from({ length: n }, (_, i) => i), label: 'N.%%' } };
}
`,
  );
}

/** `maestro run`'s spec arguments for the study {@link writeCountedStudy} wrote, with `n` instances. */
export const countedStudy = (n: number): string[] => ['spec.yaml', '--pgen', 'gen.mjs', '--pargs', `N:${n}`];

export interface MaestroRun extends Promise<{ code: number; wallMs: number; output: string }> {
  kill(signal?: NodeJS.Signals): void;
  /** The conductor's process id. */
  readonly pid: number | undefined;
}

/** `bin`: another checkout's maestro.js, for a baseline measured beside this one. */
export function runMaestro(args: readonly string[], cwd: string, bin = MAESTRO): MaestroRun {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<{ code: number; wallMs: number; output: string }>((resolve) => {
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, wallMs: performance.now() - t0, output }));
  });
  return Object.assign(done, { kill: (signal: NodeJS.Signals = 'SIGTERM') => void child.kill(signal), pid: child.pid });
}

export interface StudyRecord {
  id: string;
  fields: Record<string, string>;
  records: StateRecord[];
}

/** The study's hash and packed state, read back from its Redis after the run. */
export async function readStudy(redis: Redis, prefix: string, root: string): Promise<StudyRecord> {
  const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as {
    id: string;
    instanceCount: number;
  };
  const fields = await redis.hgetall(studyKey(prefix, meta.id));
  const buf = (await redis.getBuffer(stateKey(prefix, meta.id))) ?? Buffer.alloc(0);
  const records = Array.from({ length: meta.instanceCount }, (_, i) => readStateRecord(buf, i));
  return { id: meta.id, fields, records };
}

export interface StudyTally {
  fields: Record<string, string>;
  instanceCount: number;
  finished: number;
  /** Instances whose current attempt is their first. */
  firstAttempt: number;
}

/**
 * What a big study ended with, counted from its packed state read in slices: readStudy's object
 * per instance would take gigabytes at ten million.
 */
export async function tallyStudy(redis: Redis, prefix: string, root: string): Promise<StudyTally> {
  const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as {
    id: string;
    instanceCount: number;
  };
  const fields = await redis.hgetall(studyKey(prefix, meta.id));
  const key = stateKey(prefix, meta.id);
  const perRead = 100_000;
  let finished = 0;
  let firstAttempt = 0;
  for (let from = 0; from < meta.instanceCount; from += perRead) {
    const count = Math.min(perRead, meta.instanceCount - from);
    const buf = await redis.getrangeBuffer(key, from * STATE_RECORD_BYTES, (from + count) * STATE_RECORD_BYTES - 1);
    for (let k = 0; k + STATE_RECORD_BYTES <= buf.length; k += STATE_RECORD_BYTES) {
      if (buf[k + STATE_OFFSETS.state] === StepState.FINISHED) finished++;
      if (buf.readUInt32LE(k + STATE_OFFSETS.attempt) === 1) firstAttempt++;
    }
  }
  return { fields, instanceCount: meta.instanceCount, finished, firstAttempt };
}
