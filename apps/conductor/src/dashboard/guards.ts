/**
 * Request guards of the dashboard: HTTP basic auth compared in constant time, a Host check that
 * keeps a loopback dashboard without credentials out of reach of DNS-rebinding pages, the
 * cross-site request forgery check on every request that changes something, and the switch that
 * turns bull-board's queue-changing requests off.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
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

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The cookie that hands the page its token, and the header a request sends it back in: axios's
 * own names, so bull-board's requests (axios, same origin) carry the token without a change.
 */
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const CSRF_HEADER = 'x-xsrf-token';

/** A per-server secret for {@link requireSameOrigin}. */
export function makeCsrfToken(): string {
  return randomBytes(32).toString('hex');
}

/** `host[:port]` as URLs normalise it (lower case, no default port), or undefined. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Requests that may change something (every method but GET, HEAD and OPTIONS) must come from a
 * page of this dashboard: their Origin (or, without one, their Referer) names the Host they were
 * sent to, and they carry the server's token in a header. A form on another site can send a POST
 * with the user's credentials, but it cannot set a header, and its Origin gives it away; a page on
 * another port of the same host (same site, so it sees the cookie) still fails the Origin check.
 */
export function requireSameOrigin(token: string): Handler {
  const expected = digest(token);
  return (req, res, next) => {
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    const from = req.headers.origin ?? req.headers.referer;
    const target = req.headers.host ? hostOf(`http://${req.headers.host}`) : undefined;
    if (!from || !target || hostOf(from) !== target) {
      res.status(403).json({
        error: `refused: a ${req.method} must come from a page of this dashboard (Origin ${from ?? 'missing'})`,
      });
      return;
    }
    const given = req.headers[CSRF_HEADER];
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
      res.status(403).json({
        error: `refused: the request carries no valid ${CSRF_HEADER} token (reload the page to get the current one)`,
      });
      return;
    }
    next();
  };
}

/**
 * Hands pages the token as a cookie (SameSite=Strict, so no other site's request carries it):
 * on page loads, not on the API calls the pages poll with, so that two dashboards of one host
 * (cookies ignore ports) each hand theirs to the page last loaded from them.
 */
export function issueCsrfCookie(token: string): Handler {
  const cookie = `${CSRF_COOKIE}=${token}; Path=/; SameSite=Strict`;
  return (req, res, next) => {
    if (req.method === 'GET' && !req.path.includes('/api/') && !req.path.includes('/static/')) {
      res.append('Set-Cookie', cookie);
    }
    next();
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

/**
 * Headers for every response: no sniffing, no framing (clickjacking), no referrer leaks to other
 * sites. (`same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with
 * the page's own POSTs, which the same-origin check must then refuse.)
 */
export function securityHeaders(): Handler {
  return (_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'same-origin',
    });
    next();
  };
}
