/**
 * The dashboard server: bull-board over every maestro queue of one Redis under `/queues`, the
 * study view (a static page in apps/conductor/web) at `/`, and its JSON API under `/api`.
 * Used by `maestro dashboard` and, inside the run, by `maestro run --dashboard`.
 *
 * Safety: settings.ts refuses a non-loopback address without credentials; with credentials
 * every request needs them; bull-board is read-only unless actions are allowed; the Redis URL is
 * only ever shown without its password.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { Logger } from 'pino';
import { BoardQueues } from '../queue/index.js';
import { withoutPassword } from '@maestro/secrets';
import { connectRedis, type RedisTarget } from '../redis/index.js';
import { StudyReader } from '../redis/index.js';
import { apiRouter } from './api.js';
import { StudyCatalog } from './catalog.js';
import { readOnlyQueues, requireBasicAuth, requireLoopbackHost, securityHeaders } from './guards.js';
import { DashboardError, DashboardErrorCode, isLoopback, type DashboardSettings } from './settings.js';
import { StudyStreams } from './streams.js';

export const BOARD_PATH = '/queues';
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
/** New studies and workers bring new queue names; bull-board learns them this often. */
const QUEUE_REFRESH_MS = 5_000;
const VERSION = '0.1.0';

export interface DashboardOptions {
  readonly settings: Readonly<DashboardSettings>;
  readonly redis: RedisTarget;
  readonly log: Logger;
}

export interface Dashboard {
  /** `http://host:port/`, with the port actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const { settings, log } = o;
  const closers: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const redis = await connectRedis(o.redis, 'viewer');
    closers.push(() => redis.disconnect());
    const queueConnection = await connectRedis(o.redis, 'viewer');
    closers.push(() => queueConnection.disconnect());

    const boardQueues = new BoardQueues(queueConnection, settings.prefix, !settings.allowActions);
    closers.push(() => boardQueues.close());
    const reader = new StudyReader(redis, settings.prefix);
    const catalog = new StudyCatalog({
      reader,
      jobStates: (jobs) => boardQueues.jobStates(jobs),
      boardPath: BOARD_PATH,
      log,
    });
    const streams = new StudyStreams(catalog, log);
    closers.push(() => streams.close());

    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(BOARD_PATH);
    const board = createBullBoard({
      queues: boardQueues.ensure(await knownQueues(catalog, reader)),
      serverAdapter,
      options: {
        uiConfig: {
          boardTitle: 'maestro queues',
          miscLinks: [{ text: 'Studies', url: '/' }],
        },
      },
    });
    const refresh = setInterval(() => {
      knownQueues(catalog, reader).then(
        (names) => {
          for (const adapter of boardQueues.ensure(names)) board.addQueue(adapter);
        },
        (err: unknown) => log.debug({ err: (err as Error).message }, 'queue refresh failed'),
      );
    }, QUEUE_REFRESH_MS);
    refresh.unref();
    closers.push(() => clearInterval(refresh));

    const app = express();
    app.disable('x-powered-by');
    app.use(securityHeaders());
    if (settings.auth) app.use(requireBasicAuth(settings.auth));
    else app.use(requireLoopbackHost());
    app.use(
      '/api',
      apiRouter(
        catalog,
        streams,
        {
          prefix: settings.prefix,
          board: BOARD_PATH,
          actions: settings.allowActions,
          redis: withoutPassword(o.redis.url),
          version: VERSION,
        },
        log,
      ),
    );
    if (!settings.allowActions) app.use(BOARD_PATH, readOnlyQueues());
    app.use(BOARD_PATH, serverAdapter.getRouter() as express.Router);
    app.use(
      express.static(WEB_DIR, {
        index: 'index.html',
        setHeaders: (res) => res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self'"),
      }),
    );

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
    return { url, close };
  } catch (err) {
    await close();
    throw err;
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
