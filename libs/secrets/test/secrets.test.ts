import { describe, expect, it } from 'vitest';
import {
  redactArgv,
  redactUrl,
  scrub,
  secretForms,
  titleWithoutPasswords,
  urlPassword,
  urlSecrets,
  withoutPassword,
} from '../src/index.js';

describe('URLs', () => {
  it('shows the user but never the password', () => {
    expect(redactUrl('redis://alice:p%40ss@h:6380/2')).toBe('redis://alice:***@h:6380/2');
    expect(redactUrl('rediss://h:6380')).toBe('rediss://h:6380');
    expect(withoutPassword('redis://alice:p%40ss@h:6380/2')).toBe('redis://alice@h:6380/2');
    expect(withoutPassword('rediss://:pw@h:6380')).toBe('rediss://h:6380');
    expect(urlPassword('redis://alice:p%40ss@h:6380/2')).toBe('p@ss');
    expect(urlPassword('redis://h')).toBeUndefined();
  });

  it('hides both passwords of a sentinel URL and the password of a cluster URL, hosts kept', () => {
    const sentinel = 'redis+sentinel://u:srv%2Fpw@a:26379,b:26380/mymaster?sentinelPassword=s%26p';
    expect(redactUrl(sentinel)).toBe('redis+sentinel://u:***@a:26379,b:26380/mymaster?sentinelPassword=***');
    expect(withoutPassword(sentinel)).toBe('redis+sentinel://u@a:26379,b:26380/mymaster');
    expect(urlPassword(sentinel)).toBe('srv/pw');
    expect(urlSecrets(sentinel)).toEqual(['srv/pw', 's&p']);
    expect(withoutPassword('rediss+sentinel://a:1/m?sentinelUsername=x&sentinelPassword=y')).toBe(
      'rediss+sentinel://a:1/m?sentinelUsername=x',
    );
    expect(redactUrl('redis+sentinel://a:1/m')).toBe('redis+sentinel://a:1/m');
    const cluster = 'redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001';
    expect(redactUrl(cluster)).toBe('redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7001');
    expect(withoutPassword(cluster)).toBe('redis+cluster://10.0.0.1:7000,10.0.0.2:7001');
    expect(urlSecrets(cluster)).toEqual(['pw']);
    expect(redactArgv(['--redis', `${sentinel}&x=1`])).toEqual([
      '--redis',
      'redis+sentinel://u:***@a:26379,b:26380/mymaster?sentinelPassword=***&x=1',
    ]);
  });

  it('hides what may be credentials in text that is not a URL', () => {
    expect(redactUrl('not a url :secret@host')).toBe('not a url :***@host');
    expect(redactUrl('redis//:secret@h')).not.toContain('secret');
    expect(withoutPassword('not a url //:secret@h')).toBe('not a url //h');
  });
});

describe('scrub', () => {
  it('replaces a secret in every form it can take in a line', () => {
    const forms = secretForms(['p@ss"w', undefined, '']);
    const line = JSON.stringify({ a: 'p@ss"w', b: encodeURIComponent('p@ss"w'), c: 'x p@ss"w y' });
    expect(scrub(line, forms)).not.toMatch(/p@ss|p%40ss/);
    expect(scrub('nothing here', forms)).toBe('nothing here');
  });
});

describe('the process title', () => {
  it('hides URL passwords in any argument, and leaves the rest', () => {
    expect(redactArgv(['--redis', 'rediss://alice:p%40ss@h:1', '--name', 'w:1@x', '--redis=redis://:pw@h'])).toEqual([
      '--redis',
      'rediss://alice:***@h:1',
      '--name',
      'w:1@x',
      '--redis=redis://:***@h',
    ]);
  });

  it("hides the password of the dashboard's --auth user:password, in both spellings", () => {
    expect(redactArgv(['dashboard', '--auth', 'ann:se:cr:et', '--auth=bob:pw', '--auth', 'nocolon'])).toEqual([
      'dashboard',
      '--auth',
      'ann:***',
      '--auth=bob:***',
      '--auth',
      '***',
    ]);
    expect(titleWithoutPasswords('node', ['/bin/maestro', 'dashboard', '--auth', 'ann:secret'])).toBe(
      'node /bin/maestro dashboard --auth ann:***',
    );
  });

  it('is rewritten only when an argument held a password', () => {
    expect(titleWithoutPasswords('node', ['/bin/maestro', 'run', '--redis', 'redis://:pw@h'])).toBe(
      'node /bin/maestro run --redis redis://:***@h',
    );
    expect(titleWithoutPasswords('node', ['/bin/maestro', 'run', 'spec.yaml'])).toBeUndefined();
  });
});
