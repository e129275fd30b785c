/** Credentials in the conductor: what is shown of a URL, which errors are fatal, scrubbed logs, `ps`. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeLogger } from '../src/run/log.js';
import { redactArgv, redactUrl, withoutPassword } from '@maestro/secrets';
import { fatalConnectionError, redisSecrets } from '../src/redis/connection.js';

const tlsError = (code: string, message = 'self-signed certificate in certificate chain'): Error =>
  Object.assign(new Error(message), { code });

describe('URLs in messages and files', () => {
  it('shows the user but never the password', () => {
    expect(redactUrl('redis://alice:p%40ss@h:6380/2')).toBe('redis://alice:***@h:6380/2');
    expect(withoutPassword('redis://alice:p%40ss@h:6380/2')).toBe('redis://alice@h:6380/2');
    expect(withoutPassword('rediss://:pw@h:6380')).toBe('rediss://h:6380');
  });

  it('hides what may be credentials in text that is not a URL', () => {
    expect(redactUrl('redis//:secret@h')).not.toContain('secret');
    expect(withoutPassword('not a url //:secret@h')).toBe('not a url //h');
  });
});

describe('fatalConnectionError', () => {
  const target = { url: 'rediss://:pw@redis.example:6380', tlsCaFile: '/etc/ca.pem' };

  it('names refused credentials, without the password', () => {
    const m = fatalConnectionError(new Error('WRONGPASS invalid username-password pair'), target);
    expect(m).toBe(
      'Redis at rediss://:***@redis.example:6380 refused the credentials: WRONGPASS invalid username-password pair ' +
        '(give the password with --redis-password-file FILE or in the URL)',
    );
    expect(fatalConnectionError(new Error('NOAUTH Authentication required.'), target)).toMatch(
      /refused the credentials/,
    );
  });

  it('names certificate problems and what to do about them', () => {
    expect(fatalConnectionError(tlsError('SELF_SIGNED_CERT_IN_CHAIN'), target)).toBe(
      'Redis at rediss://:***@redis.example:6380: TLS connection failed: self-signed certificate in certificate chain ' +
        "(SELF_SIGNED_CERT_IN_CHAIN); is /etc/ca.pem the CA that signed the server's certificate?",
    );
    expect(fatalConnectionError(tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), { url: target.url })).toMatch(
      /give the CA that signed the server's certificate with --tls-ca-file FILE/,
    );
    expect(
      fatalConnectionError(tlsError('ERR_TLS_CERT_ALTNAME_INVALID', 'Hostname/IP does not match'), target),
    ).toMatch(/TLS connection failed: Hostname\/IP does not match/);
  });

  it('leaves errors worth waiting out to the retry', () => {
    expect(fatalConnectionError(tlsError('ECONNREFUSED', 'connect ECONNREFUSED'), target)).toBeUndefined();
    expect(fatalConnectionError(tlsError('SELF_SIGNED_CERT_IN_CHAIN'), { url: 'redis://h:1' })).toBeUndefined();
    expect(fatalConnectionError(new Error('LOADING Redis is loading the dataset in memory'), target)).toBeUndefined();
  });
});

describe('the conductor log', () => {
  it('never writes the password, whatever field or error carries it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'maestro-log-'));
    const password = 'p@ss:w/rd "quoted"';
    const pwFile = path.join(dir, 'pw');
    writeFileSync(pwFile, `${password}\n`);
    const secrets = redisSecrets({ url: 'redis://alice:other-secret@h:1', passwordFile: pwFile });
    expect(secrets).toEqual(['other-secret', password]);

    const file = path.join(dir, 'conductor.log');
    const lines: string[] = [];
    const { log, close } = makeLogger({ file, console: (l) => lines.push(l), secrets });
    // What ioredis attaches to an error of the HELLO it sends on connect.
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'hello', args: ['3', 'AUTH', 'alice', password] },
    });
    log.error({ err, url: `redis://alice:${encodeURIComponent(password)}@h:1` }, 'connection failed');
    log.warn({ other: 'other-secret' }, 'again');
    await close();
    const text = readFileSync(file, 'utf8') + lines.join('\n');
    expect(text).toContain('connection failed');
    expect(text).toContain('***');
    for (const form of [
      password,
      encodeURIComponent(password),
      JSON.stringify(password).slice(1, -1),
      'other-secret',
    ]) {
      expect(text).not.toContain(form);
    }
  });
});

describe('redactArgv (the process title `ps` shows)', () => {
  it('replaces URL passwords in any argument and leaves the rest alone', () => {
    expect(
      redactArgv(['run', '--redis', 'redis://:p%40ss@h:1', '--redis=rediss://alice:pw@h:2/0', 'spec.yaml', 'a:b@c']),
    ).toEqual(['run', '--redis', 'redis://:***@h:1', '--redis=rediss://alice:***@h:2/0', 'spec.yaml', 'a:b@c']);
    expect(redactArgv(['--redis', 'redis://alice@h:1'])).toEqual(['--redis', 'redis://alice@h:1']);
  });
});
