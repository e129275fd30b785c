/**
 * Request guards of the dashboard: HTTP basic auth compared in constant time, a Host check that
 * keeps a loopback dashboard without credentials out of reach of DNS-rebinding pages, and the
 * switch that turns bull-board's queue-changing requests off.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { isLoopback } from './settings.js';

type Handler = (req: Request, res: Response, next: NextFunction) => void;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Every request must carry these credentials (`Authorization: Basic ...`), or gets 401. */
export function requireBasicAuth(credentials: { user: string; password: string }): Handler {
  // Comparing fixed-size digests keeps the time independent of where the strings differ and of
  // their lengths.
  const expected = digest(`${credentials.user}:${credentials.password}`);
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    const given = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    if (m && timingSafeEqual(digest(given), expected)) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="maestro dashboard", charset="UTF-8"')
      .type('text/plain')
      .send('authentication required\n');
  };
}

/**
 * For a loopback dashboard without credentials: only requests addressed to a loopback name. A
 * web page elsewhere that rebinds its own name to 127.0.0.1 sends its own name as Host.
 */
export function requireLoopbackHost(): Handler {
  return (req, res, next) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (isLoopback(host)) {
      next();
      return;
    }
    res.status(403).type('text/plain').send('this dashboard answers only requests addressed to localhost\n');
  };
}

/** bull-board's requests that change queues (every non-GET) are refused unless actions are allowed. */
export function readOnlyQueues(): Handler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      next();
      return;
    }
    res.status(403).json({
      error: 'queue actions are off: start the dashboard with --allow-actions to retry, clean or remove jobs',
    });
  };
}

/** Headers for every response: no sniffing, no framing (clickjacking), no referrer leaks. */
export function securityHeaders(): Handler {
  return (_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  };
}
