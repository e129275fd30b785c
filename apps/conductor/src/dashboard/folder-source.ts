/**
 * A study read from its folder alone, for when its Redis is gone: the study ended and took its
 * embedded server along, or the shared one is down or no longer holds it. meta/study.json says
 * what the study is, meta/status.json its state and counts, status.csv each instance (the
 * conductor keeps both up to date while it runs, and writes them a last time when it ends).
 * Workers and BullMQ jobs live only in Redis, so there are none here.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { JobPresence } from '../queue/index.js';
import type { LivenessFacts } from '../status/index.js';
import type { StudyMeta } from '../study/index.js';
import { parseStudyRecord, type StudyRecord } from './records.js';
import { readStatusJson, readStatusRecords, type FailureFacts } from './status-records.js';
import type { StudySource } from './study-source.js';
import { NotFoundError } from './views.js';

export class FolderSource implements StudySource {
  readonly kind = 'folder';

  constructor(readonly meta: StudyMeta) {}

  get studyId(): string {
    return this.meta.id;
  }

  get #statusJson(): string {
    return path.join(this.meta.root, 'meta', 'status.json');
  }

  get #statusCsv(): string {
    return path.join(this.meta.root, 'status.csv');
  }

  async countStudies(): Promise<number> {
    return 1;
  }

  async listStudies(offset: number, limit: number): Promise<string[]> {
    return offset === 0 && limit > 0 ? [this.meta.id] : [];
  }

  async readRecords(ids: readonly string[]): Promise<StudyRecord[]> {
    return Promise.all(ids.map((id) => (id === this.meta.id ? this.#record() : parseStudyRecord(id, {}))));
  }

  /** Changes whenever the conductor rewrote a status file (it replaces them, so a new inode and time). */
  async readVersion(id: string): Promise<string> {
    if (id !== this.meta.id) throw new NotFoundError(`no study '${id}' in ${this.meta.root}`);
    const of = async (file: string): Promise<string> => {
      const s = await stat(file).catch(() => undefined);
      return s ? `${s.ino}:${s.mtimeMs}:${s.size}` : 'none';
    };
    return ['folder', await of(this.#statusJson), await of(this.#statusCsv)].join('|');
  }

  async readState(id: string, count: number): Promise<Uint8Array> {
    const status = id === this.meta.id ? await readStatusJson(this.#statusJson) : undefined;
    const failures = new Map<string, FailureFacts>(
      (status?.failures ?? []).map((f) => [f.name, { exitCode: f.exitCode, attempt: f.attempt }]),
    );
    return readStatusRecords(this.#statusCsv, count, failures);
  }

  async readStudyWorkers(): Promise<Record<string, string>> {
    return {};
  }

  async recentWorkers(): Promise<string[]> {
    return [];
  }

  async readWorkerRecords(names: readonly string[]): Promise<Record<string, string>[]> {
    return names.map(() => ({}));
  }

  async readLiveness(id: string): Promise<Pick<LivenessFacts, 'lease' | 'heartbeat'>> {
    const status = id === this.meta.id ? await readStatusJson(this.#statusJson) : undefined;
    return { lease: undefined, heartbeat: status?.conductor };
  }

  async jobStates(jobs: readonly unknown[]): Promise<JobPresence[]> {
    return jobs.map((): JobPresence => 'missing');
  }

  async #record(): Promise<StudyRecord> {
    const m = this.meta;
    const status = await readStatusJson(this.#statusJson);
    const state = status?.state ?? (m.dryRun ? 'DRYRUN' : 'UNKNOWN');
    const ms = (iso: string | undefined): number | undefined => {
      const t = iso === undefined ? NaN : Date.parse(iso);
      return Number.isFinite(t) ? t : undefined;
    };
    return {
      id: m.id,
      name: m.name,
      description: m.description,
      root: m.root,
      host: '',
      createdAt: m.createdAt,
      state,
      instanceCount: m.instanceCount,
      steps: m.steps,
      queues: [],
      counts: status?.counts ?? {},
      startedMs: ms(status?.startedAt),
      // The conductor writes the files a last time when the study ends.
      endedMs: state === 'RUNNING' ? undefined : ms(status?.updatedAt),
      limits: { throttle: undefined, rlimit: undefined, attempts: undefined },
      cancelled: state === 'CANCELLED',
      workerNames: [''],
      quarantined: [], // only Redis knows (workers list --study tells)
      problem: status ? undefined : 'the study folder has no status files yet (it never ran)',
    };
  }
}
