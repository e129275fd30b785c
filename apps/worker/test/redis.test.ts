/** How a Redis URL becomes connection options: the password never stays in a URL. */
import { describe, expect, it } from 'vitest';
import { fatalConnectionError, toClusterOptions, toRedisOptions } from '../src/redis.js';

const base = { redisPassword: undefined, sentinelPassword: undefined, tlsCa: undefined, name: 'w1' };

describe('toRedisOptions', () => {
  it('takes host, port, user, password and db out of the URL', () => {
    expect(
      toRedisOptions({ ...base, redisUrl: 'redis://alice:p%40ss@redis.example:6380/3' }, 'commands'),
    ).toMatchObject({
      host: 'redis.example',
      port: 6380,
      username: 'alice',
      password: 'p@ss',
      db: 3,
      tls: undefined,
      connectionName: 'maestro-worker:w1:commands',
      maxRetriesPerRequest: null,
    });
  });

  it('prefers the password from the file, and defaults the port', () => {
    const options = toRedisOptions(
      { ...base, redisPassword: 'from-file', redisUrl: 'redis://:in-url@[::1]' },
      'subscriber',
    );
    expect(options).toMatchObject({ host: '::1', port: 6379, password: 'from-file', db: 0 });
  });

  it('uses TLS for rediss://, with the given certificate authority', () => {
    expect(toRedisOptions({ ...base, redisUrl: 'rediss://h' }, 'commands').tls).toEqual({});
    expect(toRedisOptions({ ...base, tlsCa: 'PEM', redisUrl: 'rediss://h' }, 'commands').tls).toEqual({ ca: 'PEM' });
  });
});

describe('sentinel and cluster URLs', () => {
  it('asks the sentinels for the primary, with the servers and the sentinels passwords apart', () => {
    const url = 'redis+sentinel://:srv@a:26379,b:26380/mymaster/1?sentinelPassword=sen';
    expect(toRedisOptions({ ...base, redisUrl: url }, 'commands')).toMatchObject({
      sentinels: [
        { host: 'a', port: 26379 },
        { host: 'b', port: 26380 },
      ],
      name: 'mymaster',
      role: 'master',
      db: 1,
      password: 'srv',
      sentinelPassword: 'sen',
      failoverDetector: false,
      maxRetriesPerRequest: null,
    });
    expect(toRedisOptions({ ...base, sentinelPassword: 'file', redisUrl: url }, 'commands').sentinelPassword).toBe(
      'file',
    );
  });

  it('gives every cluster node the credentials', () => {
    const options = toClusterOptions({ ...base, redisUrl: 'redis+cluster://u:pw@a:7000,b:7001' }, 'commands');
    expect(options.redisOptions).toMatchObject({ username: 'u', password: 'pw', maxRetriesPerRequest: null });
  });
});

describe('fatalConnectionError', () => {
  it('says the sentinels refused their password, and where to give it', () => {
    const config = {
      redisUrl: 'redis+sentinel://a:1/m?sentinelPassword=bad',
      redisPassword: undefined,
      tlsCa: undefined,
    };
    const err = new Error(
      'All sentinels are unreachable. Retrying from scratch after 500ms. Last error: WRONGPASS invalid username-password pair or user is disabled.',
    );
    expect(fatalConnectionError(err, config)).toBe(
      "--redis: the sentinels of Redis at redis+sentinel://a:1/m?sentinelPassword=*** refused their password (WRONGPASS): give the sentinels' own password with --sentinel-password-file FILE or ?sentinelPassword= in the URL",
    );
    const unreachable = new Error(
      'All sentinels are unreachable. Retrying from scratch after 500ms. Last error: connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(fatalConnectionError(unreachable, config)).toBeUndefined();
  });

  const tls = (code: string): Error =>
    Object.assign(new Error('self-signed certificate in certificate chain'), { code });

  it('names the flag to fix and never the password', () => {
    const fromFile = { redisUrl: 'redis://h:1', redisPassword: 'secret', tlsCa: undefined };
    expect(fatalConnectionError(new Error('WRONGPASS invalid username-password pair'), fromFile)).toBe(
      '--redis-password-file: Redis at redis://h:1 refused the credentials: WRONGPASS invalid username-password pair',
    );
    const inUrl = { redisUrl: 'redis://:secret@h:1', redisPassword: undefined, tlsCa: undefined };
    expect(fatalConnectionError(new Error('NOAUTH Authentication required.'), inUrl)).toBe(
      '--redis: Redis at redis://:***@h:1 refused the credentials: NOAUTH Authentication required.',
    );
  });

  it('says what to do about a certificate it cannot verify', () => {
    const config = { redisUrl: 'rediss://h:1', redisPassword: undefined, tlsCa: undefined };
    expect(fatalConnectionError(tls('SELF_SIGNED_CERT_IN_CHAIN'), config)).toMatch(
      /^--tls-ca-file: Redis at rediss:\/\/h:1: TLS connection failed: .* \(SELF_SIGNED_CERT_IN_CHAIN\); give the CA/,
    );
    expect(fatalConnectionError(tls('SELF_SIGNED_CERT_IN_CHAIN'), { ...config, tlsCa: 'PEM' })).toMatch(
      /is it the CA that signed the server's certificate\?$/,
    );
  });

  it('waits out a Redis that is down', () => {
    const config = { redisUrl: 'rediss://h:1', redisPassword: undefined, tlsCa: undefined };
    expect(fatalConnectionError(tls('ECONNREFUSED'), config)).toBeUndefined();
    expect(
      fatalConnectionError(tls('SELF_SIGNED_CERT_IN_CHAIN'), { ...config, redisUrl: 'redis://h:1' }),
    ).toBeUndefined();
  });
});
