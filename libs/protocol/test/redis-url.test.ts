import { describe, expect, it } from 'vitest';
import { RedisUrlError, hasHashTag, keyPrefixFor, parseRedisUrl } from '../src/redis-url.js';

describe('parseRedisUrl: the one reading of --redis for conductor and worker', () => {
  it('reads a single server, with credentials, port and database', () => {
    expect(parseRedisUrl('redis://alice:p%40ss@db.example:6380/2')).toEqual({
      kind: 'server',
      tls: false,
      host: 'db.example',
      port: 6380,
      db: 2,
      username: 'alice',
      password: 'p@ss',
    });
    expect(parseRedisUrl('rediss://:pw@[::1]')).toMatchObject({ kind: 'server', tls: true, host: '::1', port: 6379 });
  });

  it('reads a unix socket', () => {
    expect(parseRedisUrl('redis+unix:///tmp/r.sock')).toEqual({ kind: 'unix', path: '/tmp/r.sock' });
  });

  it('reads the sentinels, the primary name, the servers password and the sentinels password', () => {
    expect(
      parseRedisUrl('redis+sentinel://:srv%2Fpw@10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster?sentinelPassword=s%26p'),
    ).toEqual({
      kind: 'sentinel',
      tls: false,
      sentinels: [
        { host: '10.0.0.1', port: 26380 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'mymaster',
      db: 0,
      password: 'srv/pw',
      username: undefined,
      sentinelPassword: 's&p',
      sentinelUsername: undefined,
    });
    expect(parseRedisUrl('rediss+sentinel://h:1/m/3')).toMatchObject({ tls: true, db: 3, masterName: 'm' });
  });

  it('reads the seed nodes of a cluster', () => {
    expect(parseRedisUrl('redis+cluster://bob:pw@a:7000,b:7001')).toEqual({
      kind: 'cluster',
      tls: false,
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      username: 'bob',
      password: 'pw',
    });
  });

  it('names every problem at once, and never the password', () => {
    let err: unknown;
    try {
      parseRedisUrl('redis+sentinel://:secret@h:99999,:1?sentinelPassword=hush&color=red');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RedisUrlError);
    const e = err as RedisUrlError;
    expect(e.problems).toEqual([
      "unknown parameter 'color' (known: sentinelPassword, sentinelUsername)",
      "port '99999' of 'h:99999' is not a number from 1 to 65535",
      "':1' is not host:port",
      'no primary name: end the URL with /MASTER_NAME, the name the sentinels monitor',
    ]);
    expect(e.message).not.toMatch(/secret|hush/);
    expect(e.message).toContain(':***@');
  });

  it.each([
    ['http://h:1', /unknown scheme 'http:\/\/'/],
    ['redis://a:1,b:2', /one host only; for several, use redis\+sentinel:\/\/ or redis\+cluster:\/\//],
    ['redis+cluster://a:1/0', /a cluster has no databases or names: drop '\/0'/],
    ['redis+unix://', /no socket path/],
    ['localhost:6379', /use one of redis:\/\//],
  ])('refuses %s', (url, message) => expect(() => parseRedisUrl(url)).toThrow(message));
});

describe('keyPrefixFor: one hash tag for every key on a cluster', () => {
  it('wraps the prefix in braces on a cluster only, and only once', () => {
    expect(keyPrefixFor('maestro', 'cluster')).toBe('{maestro}');
    expect(keyPrefixFor('{maestro}', 'cluster')).toBe('{maestro}');
    expect(keyPrefixFor('site{a}', 'cluster')).toBe('site{a}');
    expect(keyPrefixFor('maestro', 'sentinel')).toBe('maestro');
    expect(keyPrefixFor('maestro', 'server')).toBe('maestro');
  });

  it('does not count an empty tag, which Redis Cluster ignores', () => {
    expect(hasHashTag('a{}b')).toBe(false);
    expect(keyPrefixFor('a{}b', 'cluster')).toBe('{a{}b}');
  });
});
