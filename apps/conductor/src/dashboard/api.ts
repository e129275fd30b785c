/**
 * The JSON endpoints behind the study view (documented with examples in docs/dashboard.md).
 * Read-only: nothing here changes a study or a queue. Errors are `{ "error": "..." }` with 400
 * (bad query), 404 (no such study or step) or 503 (Redis unreachable, a status file unreadable).
 */
import { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { StudyCatalog } from './catalog.js';
import type { StudyStreams } from './streams.js';
import { BadRequestError, NotFoundError } from './views.js';

export interface ApiInfo {
  /** Key prefix of the deployment shown. */
  readonly prefix: string;
  /** Where bull-board is mounted. */
  readonly board: string;
  /** Whether bull-board may change queues (`--allow-actions`). */
  readonly actions: boolean;
  /** The Redis shown, without any password; null when the view comes from a study folder alone. */
  readonly redis: string | null;
  /** Without Redis: why, and that the view comes from the study folder. */
  readonly folderNote: string | null;
  /** The study this dashboard was started for (`maestro dashboard STUDY_DIR`, `maestro run --dashboard`). */
  readonly study: string | null;
  readonly version: string;
}

function intParam(req: Request, name: string, dflt: number, min: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new BadRequestError(`${name} must be a whole number from ${min} to ${max}, got '${String(raw)}'`);
  }
  return n;
}

function strParam(req: Request, name: string): string | undefined {
  const raw = req.query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new BadRequestError(`${name} must be given once`);
  return raw;
}

export function apiRouter(catalog: StudyCatalog, streams: StudyStreams, info: () => ApiInfo, log: Logger): Router {
  const r = Router();

  const handle =
    (fn: (req: Request) => Promise<unknown>) =>
    (req: Request, res: Response): void => {
      fn(req).then(
        (body) => {
          res.set('Cache-Control', 'no-store').json(body);
        },
        (err: unknown) => sendError(res, err, log),
      );
    };

  r.get(
    '/info',
    handle(async () => info()),
  );

  r.get(
    '/studies',
    handle(async (req) => catalog.listStudies(intParam(req, 'offset', 0, 0, 1e9), intParam(req, 'limit', 50, 1, 500))),
  );

  r.get(
    '/studies/:id',
    handle(async (req) => catalog.study(String(req.params['id']))),
  );

  r.get(
    '/studies/:id/graph',
    handle(async (req) => catalog.graph(String(req.params['id']))),
  );

  r.get(
    '/studies/:id/instances',
    handle(async (req) =>
      catalog.instances(String(req.params['id']), {
        step: strParam(req, 'step'),
        states: strParam(req, 'state')?.split(',').filter(Boolean),
        offset: intParam(req, 'offset', 0, 0, 1e9),
        limit: intParam(req, 'limit', 100, 1, 1000),
      }),
    ),
  );

  r.get(
    '/studies/:id/failures',
    handle(async (req) =>
      catalog.failures(String(req.params['id']), {
        offset: intParam(req, 'offset', 0, 0, 1e9),
        limit: intParam(req, 'limit', 20, 1, 200),
        tailLines: intParam(req, 'tail', 20, 1, 500),
      }),
    ),
  );

  r.get(
    '/studies/:id/by-param',
    handle(async (req) => catalog.byParam(String(req.params['id']))),
  );

  r.get(
    '/studies/:id/workers',
    handle(async (req) => catalog.workers(String(req.params['id']))),
  );

  r.get('/studies/:id/stream', (req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // a reverse proxy must not hold events back
    });
    res.write('retry: 3000\n\n');
    let open = true; // the first summary may arrive after the page went away
    const unsubscribe = streams.subscribe(String(req.params['id']), (e) => {
      if (open) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    keepalive.unref();
    req.on('close', () => {
      open = false;
      clearInterval(keepalive);
      unsubscribe();
    });
  });

  r.use((_req, res) => {
    res.status(404).json({ error: 'no such endpoint; see docs/dashboard.md' });
  });
  return r;
}

function sendError(res: Response, err: unknown, log: Logger): void {
  if (err instanceof NotFoundError) {
    res.status(404).json({ error: err.message });
  } else if (err instanceof BadRequestError) {
    res.status(400).json({ error: err.message });
  } else {
    // Redis is down or refused us: the page keeps what it has and says so.
    log.warn({ err: (err as Error).message }, 'dashboard request failed');
    res.status(503).json({ error: `cannot read the study state: ${(err as Error).message}` });
  }
}
