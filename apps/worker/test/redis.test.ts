/** How a Redis URL becomes connection options: the password never stays in a URL. */
import { describe, expect, it } from 'vitest';
import { toRedisOptions } from '../src/redis.js';

const base = { redisPassword: undefined, tlsCa: undefined, name: 'w1' };

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
