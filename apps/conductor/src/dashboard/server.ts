/**
 * The dashboard server: bull-board over every maestro queue of one Redis under `/queues`, the
 * study view (a static page in apps/conductor/web) at `/`, and its JSON API under `/api`.
 * Used by `maestro dashboard` and, inside the run, by `maestro run --dashboard`.
 *
 * A dashboard started for one study (`maestro dashboard STUDY_DIR`, `maestro run --dashboard`)
 * shows it from its folder when Redis is gone: not running at the start, stopped meanwhile, or
 * let go of when the run ended ({@link Dashboard.studyEnded}).
 *
 * Safety: settings.ts refuses a non-loopback address without credentials; with credentials
 * every request needs them; requests that change anything must come from the dashboard's own
 * pages (guards.ts); bull-board is read-only unless actions are allowed; the Redis URL is only
 * ever shown without its password.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { Logger } from 'pino';
import { withoutPassword } from '@maestro/secrets';
import { connectRedis, StudyReader, type Redis, type RedisTarget } from '../redis/index.js';
import type { StudyMeta } from '../study/index.js';
import { apiRouter, type ApiInfo } from './api.js';
import { BOARD_PATH, QueueBoard } from './board.js';
import { StudyCatalog } from './catalog.js';
import { FolderSource } from './folder-source.js';
import {
  issueCsrfCookie,
  makeCsrfToken,
  readOnlyQueues,
  requireBasicAuth,
  requireLoopbackHost,
  requireSameOrigin,
  securityHeaders,
} from './guards.js';
import { DashboardError, DashboardErrorCode, isLoopback, type DashboardSettings } from './settings.js';
import { RedisSource } from './study-source.js';
import { FOLDER_NOTES, StudySources } from './study-sources.js';
import { StudyStreams } from './streams.js';

export { BOARD_PATH } from './board.js';
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const VERSION = '0.1.0';

export interface DashboardOptions {
  readonly settings: Readonly<DashboardSettings>;
  /** The Redis to show; undefined when there is none to reach (then `study` is shown from its folder). */
  readonly redis: RedisTarget | undefined;
  /**
   * The study this dashboard is for: `/` opens it, and its folder stands in for Redis when Redis
   * cannot be reached or no longer holds it.
   */
  readonly study?: StudyMeta | undefined;
  /** Why there is no Redis, for the page (when `redis` is undefined). @default 'Redis is not running' */
  readonly folderNote?: string | undefined;
  readonly log: Logger;
}

export interface Dashboard {
  /** `http://host:port/`, with the port actually bound. */
  readonly url: string;
  /**
   * The study ended and its Redis may stop next: from now on the dashboard shows its final state
   * from the study folder, lets go of Redis (bull-board says it has gone) and writes no more to
   * the logger it was given (the run's, which closes with the run).
   */
  studyEnded(): Promise<void>;
  close(): Promise<void>;
}

interface RedisParts {
  readonly reader: StudyReader;
  /** The connection of bull-board's BullMQ queues; the study view reads through `reader`'s. */
  readonly queueConnection: Redis;
  readonly connections: readonly Redis[];
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const { settings } = o;
  if (!o.redis && !o.study) throw new Error('the dashboard needs a Redis or a study folder to show');
  const log = o.log.child({});
  const closers: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const folder = o.study ? new FolderSource(o.study) : undefined;
    let folderNote = o.folderNote ?? FOLDER_NOTES.noRedis;
    let redis: RedisParts | undefined;
    if (o.redis) {
      redis = await connectViewer(o.redis, settings.prefix, closers).catch((err: unknown) => {
        if (!folder) throw err;
        // A study folder to show: a Redis that cannot be reached is what the folder is for.
        log.warn({ err: (err as Error).message }, 'Redis cannot be reached: showing the study from its folder');
        folderNote = FOLDER_NOTES.noRedis;
        return undefined;
      });
    }
    let board: QueueBoard | undefined;
    const sources = new StudySources({
      // `board` is set below, before the server listens and anything asks.
      redis: redis && new RedisSource(redis.reader, (jobs) => board!.jobStates(jobs)),
      folder,
      folderNote,
    });
    const catalog = new StudyCatalog({ sources, boardPath: BOARD_PATH, log });
    const streams = new StudyStreams(catalog, log);
    closers.push(() => streams.close());
    if (redis) {
      board = await QueueBoard.start({
        connection: redis.queueConnection,
        prefix: settings.prefix,
        readOnly: !settings.allowActions,
        catalog,
        reader: redis.reader,
        log,
      });
      const opened = board;
      closers.push(() => opened.close());
    }

    const info = (): ApiInfo => ({
      prefix: settings.prefix,
      board: BOARD_PATH,
      actions: settings.allowActions,
      redis: o.redis && sources.redis ? withoutPassword(o.redis.url) : null,
      folderNote: sources.redis ? null : sources.folderNote,
      study: o.study?.id ?? null,
      version: VERSION,
    });
    const app = makeApp({ settings, catalog, streams, info, board, folderNote, log });
    const server = createServer(app);
    await listen(server, settings.host, settings.port);
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections(); // open event streams would hold close() forever
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const shownHost = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
    const url = `http://${shownHost}:${port}/`;
    log.debug(
      { url, prefix: settings.prefix, auth: Boolean(settings.auth), actions: settings.allowActions },
      'dashboard listening',
    );
    if (!isLoopback(settings.host)) log.warn({ host: settings.host }, 'the dashboard is reachable from other machines');
    const studyEnded = async (): Promise<void> => {
      log.level = 'silent';
      if (!folder || !redis) return;
      sources.dropRedis(FOLDER_NOTES.ended);
      await board?.close('the study ended, and this dashboard let go of its Redis');
      // QUIT after the commands already sent: requests under way still get their answers.
      await Promise.all(redis.connections.map((c) => c.quit().catch(() => undefined)));
    };
    return { url, studyEnded, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The study reader's connection and bull-board's, both closed by `closers`. */
async function connectViewer(target: RedisTarget, prefix: string, closers: (() => void)[]): Promise<RedisParts> {
  const redis = await connectRedis(target, 'viewer');
  closers.push(() => redis.disconnect());
  const queueConnection = await connectRedis(target, 'viewer');
  closers.push(() => queueConnection.disconnect());
  return { reader: new StudyReader(redis, prefix), queueConnection, connections: [redis, queueConnection] };
}

function makeApp(o: {
  settings: Readonly<DashboardSettings>;
  catalog: StudyCatalog;
  streams: StudyStreams;
  info: () => ApiInfo;
  board: QueueBoard | undefined;
  folderNote: string;
  log: Logger;
}): express.Express {
  const { settings } = o;
  const token = makeCsrfToken();
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders());
  if (settings.auth) app.use(requireBasicAuth(settings.auth));
  else app.use(requireLoopbackHost());
  app.use(requireSameOrigin(token));
  app.use(issueCsrfCookie(token));
  app.use('/api', apiRouter(o.catalog, o.streams, o.info, o.log));
  if (!settings.allowActions) app.use(BOARD_PATH, readOnlyQueues());
  app.use(BOARD_PATH, o.board ? o.board.handler : QueueBoard.without(`the study is shown ${o.folderNote}`));
  app.use(
    express.static(WEB_DIR, {
      index: 'index.html',
      setHeaders: (res) => res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self'"),
    }),
  );
  return app;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const why =
        err.code === 'EADDRINUSE'
          ? `port ${port} is in use (choose another with --port, or --port 0 for any free one)`
          : err.code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine`
            : err.message;
      reject(new DashboardError(DashboardErrorCode.Listen, `cannot listen on ${host}:${port}: ${why}`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
