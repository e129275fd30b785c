import type { Logger } from 'pino';

/**
 * A study's workers as conduct() and the stop sequence see them: `maestro-worker` processes
 * (LocalWorkers, `--local-workers N`) or the one worker inside the conductor's own process
 * (HomeWorker, the default).
 */
export interface StudyWorkers {
  /** The conductor's log, for what is said about the workers (not their own lines). */
  useLog(log: Logger): void;
  /** Stops their running steps at once and hands them back, then ends them; SIGKILL-like after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Ends them now, handing nothing back: Redis is gone, or the user insists. */
  kill(): void;
}
