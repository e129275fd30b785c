/**
 * Certificates for TLS tests, made with openssl in a temporary folder: a private CA, a server
 * certificate it signed for localhost and 127.0.0.1, and an unrelated CA (the wrong one).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './study.js';

export interface TestCertificates {
  /** The CA that signed the server certificate. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A CA that signed nothing here: verification against it must fail. */
  readonly otherCaFile: string;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the TLS tests need openssl on PATH (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

export function makeTestCertificates(): TestCertificates {
  const dir = tempDir('maestro-tls-');
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  openssl(dir, [
    'req',
    '-x509',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=maestro test CA',
  ]);
  openssl(dir, [
    'req',
    '-x509',
    ...key,
    '-keyout',
    'other.key',
    '-out',
    'other.crt',
    '-days',
    '2',
    '-subj',
    '/CN=other CA',
  ]);
  openssl(dir, ['req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.cnf',
  ]);
  return {
    caFile: path.join(dir, 'ca.crt'),
    certFile: path.join(dir, 'server.crt'),
    keyFile: path.join(dir, 'server.key'),
    otherCaFile: path.join(dir, 'other.crt'),
  };
}
