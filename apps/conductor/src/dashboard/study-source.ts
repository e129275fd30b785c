/**
 * Where the study view reads a study: Redis (live, every study of a deployment) or one study's
 * folder (its status files: what is left when Redis is gone, folder-source.ts). study-sources.ts
 * picks one for each read.
 */
import type { JobPresence } from '../queue/index.js';
import type { StudyReader } from '../redis/index.js';
import type { LivenessFacts } from '../status/index.js';
import { parseStudyRecord, type StudyRecord } from './records.js';
import { NotFoundError } from './views.js';

/** Where worker records are read from (Redis; a study folder has none). */
export interface WorkerRecords {
  /** Workers that ran steps of the study: name -> JSON {host, allocationId}. */
  readStudyWorkers(id: string): Promise<Record<string, string>>;
  /** Names of workers seen since `sinceMs`. */
  recentWorkers(sinceMs: number, limit: number): Promise<string[]>;
  /** Their heartbeat hashes, empty for those expired. */
  readWorkerRecords(names: readonly string[]): Promise<Record<string, string>[]>;
}

export interface StudySource extends WorkerRecords {
  readonly kind: 'redis' | 'folder';
  countStudies(): Promise<number>;
  /** Study ids, newest first. */
  listStudies(offset: number, limit: number): Promise<string[]>;
  /** The studies' records, in the order asked (a study it does not have says so in `problem`). */
  readRecords(ids: readonly string[]): Promise<StudyRecord[]>;
  /** A text that changes whenever the study's instance records may have; NotFoundError without the study. */
  readVersion(id: string): Promise<string>;
  /** The packed instance records, `count` of them. */
  readState(id: string, count: number): Promise<Uint8Array>;
  /** BullMQ's state of step jobs ('missing' for those it does not have). */
  jobStates(jobs: readonly { queue: string; id: string }[]): Promise<JobPresence[]>;
  /** What this source knows of the study's conductor: Redis its lease, the folder its heartbeat. */
  readLiveness(id: string): Promise<Pick<LivenessFacts, 'lease' | 'heartbeat'>>;
}

/** The records conductors and workers keep in Redis (through a StudyReader), and BullMQ's jobs. */
export class RedisSource implements StudySource {
  readonly kind = 'redis';

  constructor(
    private readonly reader: StudyReader,
    readonly jobStates: (jobs: readonly { queue: string; id: string }[]) => Promise<JobPresence[]>,
  ) {}

  /** Whether the connection is up now (a command sent while it is down waits for one retry, then fails). */
  get ready(): boolean {
    return this.reader.ready;
  }

  async readLiveness(id: string): Promise<Pick<LivenessFacts, 'lease' | 'heartbeat'>> {
    return { lease: await this.reader.readConductor(id), heartbeat: undefined };
  }

  countStudies(): Promise<number> {
    return this.reader.countStudies();
  }

  async listStudies(offset: number, limit: number): Promise<string[]> {
    return (await this.reader.listStudies(offset, limit)).map((s) => s.id);
  }

  async readRecords(ids: readonly string[]): Promise<StudyRecord[]> {
    const hashes = await this.reader.readRecords(ids);
    return ids.map((id, k) => parseStudyRecord(id, hashes[k]!));
  }

  async readVersion(id: string): Promise<string> {
    const head = await this.reader.readHead(id);
    if (head.state === undefined) {
      const exists = (await this.reader.readRecords([id]))[0];
      if (!exists || Object.keys(exists).length === 0) throw new NotFoundError(`no study '${id}' in this Redis`);
    }
    return [head.cursor, head.state, head.counts, head.endedAt].join('|');
  }

  readState(id: string, count: number): Promise<Uint8Array> {
    return this.reader.readState(id, count);
  }

  readStudyWorkers(id: string): Promise<Record<string, string>> {
    return this.reader.readStudyWorkers(id);
  }

  recentWorkers(sinceMs: number, limit: number): Promise<string[]> {
    return this.reader.recentWorkers(sinceMs, limit);
  }

  readWorkerRecords(names: readonly string[]): Promise<Record<string, string>[]> {
    return this.reader.readWorkerRecords(names);
  }
}
