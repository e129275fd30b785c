/**
 * The study's worker inside the conductor's own process: what `maestro run` and `maestro resume`
 * run the steps of a small study with (localWorkerPlan, cli/common.ts) when no flag asks for
 * worker processes (wantsWorkerProcesses) or allocations. It is the same worker as `maestro-worker` (startWorker), with the conductor's
 * BullMQ and Redis client already loaded, so a small study's first step waits for no second
 * Node process to start: a worker's start was ~0.25 s of CPU, taken from the core the
 * conductor's own start needed (issue #27). It takes as many steps at once as the study is wide,
 * up to the machine's cores.
 *
 * What a worker process gave, it keeps: steps run under the worker's step launcher, each in its
 * own process group, with the launcher's parent-death signal, so a conductor killed outright
 * takes its steps with it and `maestro resume` runs them again; a Ctrl-C reaches the conductor,
 * whose stop sequence stops them and hands them back. Its lines go to `meta/logs/worker-1.log`,
 * as the first worker process's did.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { loadConfig, makeLogger, startWorker, type WorkerHandle } from '@maestro/worker';
import type { RedisTarget } from '../redis/connection.js';
import { STDIN_SETTINGS } from './local-workers.js';
import type { StudyWorkers } from './study-workers.js';

export interface HomeWorkerOptions {
  readonly redis: RedisTarget;
  readonly prefix: string;
  readonly queues: readonly string[];
  /** Steps run at once. */
  readonly concurrency: number;
  /** Its log goes to `<logDir>/worker-1.log`. */
  readonly logDir: string;
  /** Texts never to write (the Redis password). */
  readonly secrets: readonly string[];
}

/** Once killed (Redis gone), how long stop() waits for it to disconnect: its steps are dead already. */
const KILLED_WAIT_MS = 1_000;

export class HomeWorker implements StudyWorkers {
  /** Settles once it takes steps; rejects if it cannot start (then it holds nothing). */
  readonly ready: Promise<void>;
  readonly #handle: Promise<WorkerHandle | undefined>;
  #file: WriteStream | undefined;
  #stopping: Promise<void> | undefined;
  #killed = false;

  /** Starts it; it connects while the conductor starts (ready). */
  constructor(o: HomeWorkerOptions) {
    const started = this.#start(o);
    this.ready = started.then(() => undefined);
    this.#handle = started.catch(() => undefined);
  }

  async #start(o: HomeWorkerOptions): Promise<WorkerHandle> {
    const env: Record<string, string | undefined> = { ...process.env };
    // What a worker process would have read from its settings line, from nowhere else.
    for (const name of Object.values(STDIN_SETTINGS)) delete env[name];
    const r = o.redis;
    const config = loadConfig(
      {
        redis: r.url,
        redisPasswordFile: r.passwordFile && path.resolve(r.passwordFile),
        sentinelPasswordFile: r.sentinelPasswordFile && path.resolve(r.sentinelPasswordFile),
        tlsCaFile: r.tlsCaFile && path.resolve(r.tlsCaFile),
        prefix: o.prefix,
        queues: o.queues.join(','),
        concurrency: o.concurrency,
        name: `local-${process.pid}-1`,
        // A study is stopped, not drained: running steps are handed back at once.
        shutdownGrace: '0',
      },
      env,
    );
    mkdirSync(o.logDir, { recursive: true });
    this.#file = createWriteStream(path.join(o.logDir, 'worker-1.log'), { flags: 'a' });
    // A full disk loses its lines, not the study (a worker process's stderr would do the same).
    this.#file.on('error', () => undefined);
    const log = await makeLogger({ level: 'info', secrets: o.secrets, pretty: false, destination: this.#file });
    return startWorker(config, log, { collectStartUpGarbage: false });
  }

  useLog(): void {
    // Its own lines go to its log file; it has nothing to say through the conductor's.
  }

  /** Stops its running steps, hands them back and disconnects; waits at most `graceMs` for Redis to take them. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping ??= this.#handle.then((h) => h?.close());
    let timer: NodeJS.Timeout | undefined;
    // Redis gone: the results it holds cannot be handed over, and close() would wait for ever.
    const waitMs = this.#killed ? Math.min(graceMs, KILLED_WAIT_MS) : graceMs;
    const stopped = await Promise.race([
      this.#stopping.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs))),
    ]);
    clearTimeout(timer);
    // Still closing (Redis gone): it may log on; its file closes with the process.
    const file = this.#file;
    if (stopped && file && !file.closed) {
      file.end();
      await once(file, 'close').catch(() => undefined);
    }
  }

  kill(): void {
    this.#killed = true;
    // Its steps are killed now (a close already under way is hurried); what it cannot report,
    // the next conductor finds stalled.
    const closing = this.#handle.then((h) => h?.close({ now: true }));
    closing.catch(() => undefined);
    this.#stopping ??= closing;
  }
}
