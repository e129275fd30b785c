/** How the conductor turns sentinel and cluster URLs into connection options, and what it says when they fail. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clusterOptions,
  fatalConnectionError,
  noSentinelReached,
  redisOptions,
  redisSecrets,
} from '../src/redis/connection.js';
import { keyPrefixOf } from '../src/cli/redis-options.js';
import { workerRedis } from '../src/cli/workers.js';

const url = 'redis+sentinel://:srv@10.0.0.1:26379,10.0.0.2/mymaster?sentinelPassword=sen';

describe('sentinel URLs', () => {
  it('ask the sentinels for the primary by name, each password where it belongs', () => {
    expect(redisOptions({ url }, 'durable')).toMatchObject({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
      ],
      name: 'mymaster',
      role: 'master',
      password: 'srv',
      sentinelPassword: 'sen',
      failoverDetector: false,
      maxRetriesPerRequest: null,
    });
  });

  it('take the sentinels password from a file over the URL, and know it as a secret', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'maestro-sent-')), 'pw');
    writeFileSync(file, 'from-file\n', { mode: 0o600 });
    expect(redisOptions({ url, sentinelPasswordFile: file }, 'command').sentinelPassword).toBe('from-file');
    expect(redisSecrets({ url, sentinelPasswordFile: file }).sort()).toEqual(['from-file', 'sen', 'srv']);
  });

  it('say in one sentence that the sentinels refused their password, or that none answered', () => {
    const refused = new Error(
      'All sentinels are unreachable. Retrying from scratch after 50ms. Last error: WRONGPASS invalid username-password pair or user is disabled.',
    );
    expect(fatalConnectionError(refused, { url })).toBe(
      "the sentinels of Redis at redis+sentinel://:***@10.0.0.1:26379,10.0.0.2/mymaster?sentinelPassword=*** refused their password (WRONGPASS): give the sentinels' own password with --sentinel-password-file FILE or ?sentinelPassword= in the URL",
    );
    expect(noSentinelReached(refused, { url })).toBeUndefined();
    const down = new Error(
      'All sentinels are unreachable and retry is disabled. Last error: connect ECONNREFUSED 10.0.0.2:26379',
    );
    expect(noSentinelReached(down, { url })).toBe(
      "no sentinel of redis+sentinel://:***@10.0.0.1:26379,10.0.0.2/mymaster?sentinelPassword=*** answered (connect ECONNREFUSED 10.0.0.2:26379): check the sentinels' addresses and the primary's name in --redis, and that the sentinels run",
    );
    expect(fatalConnectionError(down, { url })).toBeUndefined();
    const closed = new Error('All sentinels are unreachable and retry is disabled. Last error: Connection is closed.');
    expect(noSentinelReached(closed, { url })).toMatch(/mymaster\?sentinelPassword=\*\*\* answered: check/);
  });
});

describe('cluster URLs', () => {
  it('give every node the credentials', () => {
    expect(clusterOptions({ url: 'redis+cluster://u:pw@a:7000,b:7001' }, 'durable').redisOptions).toMatchObject({
      username: 'u',
      password: 'pw',
      maxRetriesPerRequest: null,
    });
  });

  it('put the prefix in a hash tag, on a cluster only', () => {
    expect(keyPrefixOf('maestro', 'redis+cluster://a:7000')).toBe('{maestro}');
    expect(keyPrefixOf('maestro', url)).toBe('maestro');
    expect(keyPrefixOf('maestro', undefined)).toBe('maestro');
  });
});

describe('batch scripts on a sentinel set', () => {
  it('carry the URL without either password, and the sentinels password only as a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-sent-'));
    const serverPw = path.join(dir, 'server');
    const sentinelPw = path.join(dir, 'sentinel');
    writeFileSync(serverPw, 'srv\n', { mode: 0o600 });
    writeFileSync(sentinelPw, 'sen\n', { mode: 0o600 });
    expect(workerRedis({ url, passwordFile: serverPw, sentinelPasswordFile: sentinelPw })).toEqual({
      redisUrl: 'redis+sentinel://10.0.0.1:26379,10.0.0.2/mymaster',
      passwordFile: serverPw,
      sentinelPasswordFile: sentinelPw,
      tlsCaFile: undefined,
    });
    expect(() => workerRedis({ url, passwordFile: serverPw })).toThrow(
      "the Redis URL holds the sentinels' password (sentinelPassword=), which batch scripts must never carry",
    );
  });
});
