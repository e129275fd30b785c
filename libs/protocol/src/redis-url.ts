/**
 * Redis URLs, as `--redis` and MAESTRO_REDIS_URL take them in every command and in the worker.
 * One parser for conductor and worker, so that both read a URL the same way:
 *
 * - `redis://[[user]:pw@]host[:port][/db]`, `rediss://...` (TLS): one server;
 * - `redis+unix:///path/to/sock` (or `unix://`): a local socket (the embedded server);
 * - `redis+sentinel://[[user]:pw@]host[:port][,host[:port]...]/MASTER[/db][?sentinelPassword=pw&sentinelUsername=u]`,
 *   `rediss+sentinel://` (TLS to sentinels and servers): the sentinels of a primary named MASTER;
 *   user and password are the servers' (as for redis://), the query names the sentinels' own;
 * - `redis+cluster://[[user]:pw@]host[:port][,host[:port]...]`, `rediss+cluster://`: seed nodes of
 *   a Redis Cluster.
 *
 * WHATWG `URL` cannot read a list of hosts, so the URL is taken apart here by hand.
 */

/** One `host:port` of a list. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

interface Credentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

export type RedisAddress =
  | ({ readonly kind: 'server'; readonly tls: boolean; readonly db: number } & RedisEndpoint & Credentials)
  | ({ readonly kind: 'unix'; readonly path: string } & Credentials)
  | ({
      readonly kind: 'sentinel';
      readonly tls: boolean;
      readonly sentinels: readonly RedisEndpoint[];
      /** The name the sentinels know the primary by (`sentinel monitor NAME ...`). */
      readonly masterName: string;
      readonly db: number;
      readonly sentinelUsername?: string | undefined;
      readonly sentinelPassword?: string | undefined;
    } & Credentials)
  | ({ readonly kind: 'cluster'; readonly tls: boolean; readonly nodes: readonly RedisEndpoint[] } & Credentials);

export type RedisAddressKind = RedisAddress['kind'];

export const DEFAULT_REDIS_PORT = 6379;
export const DEFAULT_SENTINEL_PORT = 26379;

/** The forms accepted, for messages. */
export const REDIS_URL_FORMS =
  'redis://[user:pw@]host:port[/db], rediss://..., redis+unix:///path/to/sock, ' +
  'redis+sentinel://[user:pw@]host:port[,host:port...]/MASTER_NAME (rediss+sentinel:// for TLS), ' +
  'redis+cluster://[user:pw@]host:port[,host:port...] (rediss+cluster:// for TLS)';

/** Query parameters of a sentinel URL. */
const SENTINEL_QUERY = ['sentinelPassword', 'sentinelUsername'] as const;

/** A URL that is not one of {@link REDIS_URL_FORMS}; the message lists every problem (never a password). */
export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
  readonly problems: readonly string[];
  constructor(shown: string, problems: readonly string[]) {
    super(`'${shown}' is not a Redis URL: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is;

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `user:pw` -> its parts; an empty part is absent. */
function splitUserinfo(userinfo: string | undefined): Credentials {
  if (userinfo === undefined) return {};
  const k = userinfo.indexOf(':');
  const user = k < 0 ? userinfo : userinfo.slice(0, k);
  const pw = k < 0 ? '' : userinfo.slice(k + 1);
  return { username: user ? decode(user) : undefined, password: pw ? decode(pw) : undefined };
}

/** `host[:port]` or `[v6]:port`; pushes what is wrong into `problems`. */
function parseEndpoint(text: string, defaultPort: number, problems: string[]): RedisEndpoint | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*)(?::(.*))?$/.exec(text);
  if (!m || m[1] === '') {
    problems.push(`'${text}' is not host:port`);
    return undefined;
  }
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (m[2] === undefined || m[2] === '') return { host, port: defaultPort };
  const port = /^\d{1,5}$/.test(m[2]) ? Number(m[2]) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    problems.push(`port '${m[2]}' of '${text}' is not a number from 1 to 65535`);
    return undefined;
  }
  return { host, port };
}

function parseHostList(text: string, defaultPort: number, problems: string[]): RedisEndpoint[] {
  if (text === '') {
    problems.push('no host: give at least one host:port');
    return [];
  }
  const out: RedisEndpoint[] = [];
  for (const part of text.split(',')) {
    const e = parseEndpoint(part.trim(), defaultPort, problems);
    if (e) out.push(e);
  }
  return out;
}

function parseDb(text: string | undefined, problems: string[]): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,2}$/.test(text)) {
    problems.push(`database '${text}' is not a number`);
    return 0;
  }
  return Number(text);
}

/** The URL with its passwords (userinfo and the sentinel password) replaced by `***`, for messages. */
function shown(url: string): string {
  return url.replace(/(\/\/[^/@\s]*:)[^/@\s]+@/, '$1***@').replace(/(sentinelPassword=)[^&#]*/g, '$1***');
}

/** Takes a Redis URL apart; throws {@link RedisUrlError} naming every problem. */
export function parseRedisUrl(url: string): RedisAddress {
  const m = SCHEME.exec(url.trim());
  if (!m) throw new RedisUrlError(shown(url), [`use one of ${REDIS_URL_FORMS}`]);
  const scheme = m[1]!.toLowerCase();
  let rest = m[2]!;
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const query = new Map<string, string>();
  const problems: string[] = [];
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      query.set(decode(eq < 0 ? pair : pair.slice(0, eq)), decode(eq < 0 ? '' : pair.slice(eq + 1)));
    }
    rest = rest.slice(0, q);
  }
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  const credentials = splitUserinfo(at < 0 ? undefined : authority.slice(0, at));
  const hosts = at < 0 ? authority : authority.slice(at + 1);
  const refuseQuery = (allowed: readonly string[]): void => {
    for (const key of query.keys()) {
      if (!allowed.includes(key))
        problems.push(
          `unknown parameter '${key}'${allowed.length ? ` (known: ${allowed.join(', ')})` : ' (this form takes none)'}`,
        );
    }
  };
  const done = <T extends RedisAddress>(address: T): T => {
    if (problems.length > 0) throw new RedisUrlError(shown(url), problems);
    return address;
  };

  switch (scheme) {
    case 'redis':
    case 'rediss': {
      refuseQuery([]);
      if (hosts.includes(','))
        problems.push(`one host only; for several, use ${scheme}+sentinel:// or ${scheme}+cluster://`);
      const endpoint = hosts.includes(',') ? undefined : parseEndpoint(hosts, DEFAULT_REDIS_PORT, problems);
      const db = parseDb(path.slice(1), problems);
      return done({
        kind: 'server',
        tls: scheme === 'rediss',
        db,
        ...(endpoint ?? { host: '', port: 0 }),
        ...credentials,
      });
    }
    case 'redis+unix':
    case 'unix': {
      refuseQuery([]);
      if (path.length <= 1) problems.push('no socket path: write redis+unix:///path/to/redis.sock');
      return done({ kind: 'unix', path: decode(path), ...credentials });
    }
    case 'redis+sentinel':
    case 'rediss+sentinel': {
      refuseQuery(SENTINEL_QUERY);
      const sentinels = parseHostList(hosts, DEFAULT_SENTINEL_PORT, problems);
      const [, name, db, ...extra] = path.split('/');
      if (!name) problems.push('no primary name: end the URL with /MASTER_NAME, the name the sentinels monitor');
      if (extra.length > 0) problems.push(`'${path}' is not /MASTER_NAME[/db]`);
      return done({
        kind: 'sentinel',
        tls: scheme === 'rediss+sentinel',
        sentinels,
        masterName: decode(name ?? ''),
        db: parseDb(db, problems),
        sentinelUsername: query.get('sentinelUsername') || undefined,
        sentinelPassword: query.get('sentinelPassword') || undefined,
        ...credentials,
      });
    }
    case 'redis+cluster':
    case 'rediss+cluster': {
      refuseQuery([]);
      const nodes = parseHostList(hosts, DEFAULT_REDIS_PORT, problems);
      if (path !== '' && path !== '/') problems.push(`a cluster has no databases or names: drop '${path}'`);
      return done({ kind: 'cluster', tls: scheme === 'rediss+cluster', nodes, ...credentials });
    }
    default:
      throw new RedisUrlError(shown(url), [`unknown scheme '${scheme}://'; use one of ${REDIS_URL_FORMS}`]);
  }
}

/** Whether `url` is a Redis URL of any form. */
export function isRedisUrl(url: string): boolean {
  try {
    parseRedisUrl(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * The key prefix to use on `address`. On a Redis Cluster every key maestro and BullMQ write for a
 * deployment carries one hash tag, the prefix in braces (`{maestro}`), so that each Lua script and
 * MULTI (the fence touches a study's keys and a BullMQ job's lock together) stays in one slot.
 * Idempotent: a prefix that holds a tag already is kept, so conductor and worker may both apply it.
 */
export function keyPrefixFor(prefix: string, kind: RedisAddressKind): string {
  if (kind !== 'cluster' || hasHashTag(prefix)) return prefix;
  return `{${prefix}}`;
}

/** Whether Redis Cluster would hash only part of keys starting with `prefix` (a non-empty `{...}`). */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}
