/**
 * bull-board at `/queues`: BullMQ's own view of every maestro queue of one Redis, learning new
 * queue names as studies and workers bring them. Without a Redis (a study shown from its folder,
 * or a run that ended and let go of its Redis) `/queues` says so instead.
 */
import { createBullBoard } from '@bull-board/api';
import { ExpressAdapter } from '@bull-board/express';
import type { RequestHandler, Router } from 'express';
import type { Logger } from 'pino';
import { BoardQueues, type JobPresence } from '../queue/index.js';
import type { Redis, StudyReader } from '../redis/index.js';
import type { StudyCatalog } from './catalog.js';

export const BOARD_PATH = '/queues';
/** New studies and workers bring new queue names; bull-board learns them this often. */
const QUEUE_REFRESH_MS = 5_000;

export class QueueBoard {
  readonly #queues: BoardQueues;
  #router: Router | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #gone = 'this dashboard has no Redis';

  private constructor(queues: BoardQueues) {
    this.#queues = queues;
  }

  /** bull-board over the queues `catalog` and `reader` know of, kept up to date. */
  static async start(o: {
    connection: Redis;
    prefix: string;
    readOnly: boolean;
    catalog: StudyCatalog;
    reader: StudyReader;
    log: Logger;
  }): Promise<QueueBoard> {
    const board = new QueueBoard(new BoardQueues(o.connection, o.prefix, o.readOnly));
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(BOARD_PATH);
    const known = (): Promise<Set<string>> => knownQueues(o.catalog, o.reader);
    try {
      const api = createBullBoard({
        queues: board.#queues.ensure(await known()),
        serverAdapter,
        options: {
          uiConfig: {
            boardTitle: 'maestro queues',
            miscLinks: [{ text: 'Studies', url: '/' }],
          },
        },
      });
      board.#refresh = setInterval(() => {
        known().then(
          (names) => {
            for (const adapter of board.#queues.ensure(names)) api.addQueue(adapter);
          },
          (err: unknown) => o.log.debug({ err: (err as Error).message }, 'queue refresh failed'),
        );
      }, QUEUE_REFRESH_MS);
      board.#refresh.unref();
    } catch (err) {
      await board.close();
      throw err;
    }
    board.#router = serverAdapter.getRouter() as Router;
    return board;
  }

  /** What `/queues` answers when there is no Redis to show. */
  static without(why: string): RequestHandler {
    return (_req, res) => {
      res.status(503).type('text/plain').send(`bull-board is not available: ${why}.\n`);
    };
  }

  /** Mounted at BOARD_PATH: bull-board until closed, then a short explanation. */
  readonly handler: RequestHandler = (req, res, next) => {
    if (this.#router) this.#router(req, res, next);
    else QueueBoard.without(this.#gone)(req, res, next);
  };

  jobStates(jobs: readonly { queue: string; id: string }[]): Promise<JobPresence[]> {
    return this.#queues.jobStates(jobs);
  }

  /** Lets go of Redis; `/queues` says why from then on. */
  async close(why = 'the dashboard is closing'): Promise<void> {
    this.#gone = why;
    this.#router = undefined;
    clearInterval(this.#refresh);
    await this.#queues.close();
  }
}

/** The default queue, the queues of the studies listed, and those live workers consume. */
async function knownQueues(catalog: StudyCatalog, reader: StudyReader): Promise<Set<string>> {
  const names = await catalog.studyQueues();
  const alive = await reader.recentWorkers(Date.now() - 60_000, 1000);
  for (const hash of await reader.readWorkerRecords(alive)) {
    for (const q of (hash['queues'] ?? '').split(',')) if (q) names.add(q);
  }
  return names;
}
