/**
 * Which source answers: Redis while it answers and holds the study, else the folder of the study
 * the dashboard was started for (`maestro dashboard STUDY_DIR`, `maestro run --dashboard`), and
 * why, for the page to say.
 */
import type { FolderSource } from './folder-source.js';
import type { RedisSource, StudySource } from './study-source.js';
import { NotFoundError } from './views.js';

/** What the page says when the view comes from the study folder, by why. */
export const FOLDER_NOTES = {
  noRedis: 'from the study folder; Redis is not running',
  notInRedis: 'from the study folder; its Redis no longer holds it',
  noUrl: 'from the study folder; give --redis URL (its shared Redis) to follow it live',
  ended: 'from the study folder: the study ended, and the run let go of its Redis',
} as const;

/** Redis, or the folder of the one study the dashboard was started for, whichever can answer. */
export class StudySources {
  #redis: RedisSource | undefined;
  readonly #folder: FolderSource | undefined;
  #note: string;

  constructor(o: { redis?: RedisSource | undefined; folder?: FolderSource | undefined; folderNote?: string }) {
    this.#redis = o.redis;
    this.#folder = o.folder;
    this.#note = o.folderNote ?? FOLDER_NOTES.noRedis;
  }

  /** The Redis shown, while there is one. */
  get redis(): RedisSource | undefined {
    return this.#redis;
  }

  /** From now on only the folder: its Redis is about to stop (the run that owned it ended). */
  dropRedis(note: string): void {
    this.#redis = undefined;
    this.#note = note;
  }

  /** Why the folder stands in for Redis. */
  get folderNote(): string {
    return this.#note;
  }

  /** The source of the study list: Redis while it answers, else the folder's one study. */
  async forList<T>(read: (s: StudySource) => Promise<T>): Promise<T> {
    const redis = this.#redis;
    const folder = this.#folder;
    if (redis && (redis.ready || !folder)) {
      try {
        return await read(redis);
      } catch (err) {
        if (!folder) throw err;
      }
    }
    if (!folder) throw new Error('this dashboard has neither a Redis nor a study folder to show');
    if (redis) this.#note = FOLDER_NOTES.noRedis;
    return read(folder);
  }

  /** The source of a study's state and its version there. */
  async forStudy(id: string): Promise<{ source: StudySource; version: string }> {
    const redis = this.#redis;
    const folder = this.#folder?.studyId === id ? this.#folder : undefined;
    if (redis && (redis.ready || !folder)) {
      try {
        return { source: redis, version: await redis.readVersion(id) };
      } catch (err) {
        if (!folder) throw err;
        if (err instanceof NotFoundError) this.#note = FOLDER_NOTES.notInRedis;
        else this.#note = FOLDER_NOTES.noRedis;
      }
    } else if (redis) this.#note = FOLDER_NOTES.noRedis;
    if (!folder) throw new NotFoundError(`no study '${id}' in ${this.#folder?.meta.root ?? 'this dashboard'}`);
    return { source: folder, version: await folder.readVersion(id) };
  }
}
