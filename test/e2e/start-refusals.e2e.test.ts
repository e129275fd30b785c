/**
 * A `maestro run` refused at start says why in one sentence, exits non-zero, and leaves nothing
 * behind: no study folder when `-o` was not given, and nothing written into a folder the user
 * gave that they did not have before.
 */
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir, writeSpec } from '../helpers/study.js';

const servers: RedisServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

const STUDY = `study:\n  - {name: hello, description: says hello, run: {cmd: echo hello}}\n`;

/** Everything under `dir`, as relative paths. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** A folder holding only an executable `redis-server` script with this body. */
function fakeRedisServer(dir: string, body: string): string {
  const bin = path.join(dir, 'fake-bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'redis-server'), `#!/bin/sh\n${body}\n`);
  chmodSync(path.join(bin, 'redis-server'), 0o755);
  return bin;
}

describe('maestro run refused at start', () => {
  it('without redis-server on PATH: names redis-server and --redis, and creates no folder', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'nored', STUDY);
    const empty = path.join(dir, 'empty-bin');
    mkdirSync(empty);
    mkdirSync(path.join(dir, 'given'));
    const before = tree(dir);
    const env = { ...process.env, PATH: empty };
    for (const out of [[], ['-o', path.join(dir, 'new', 'study')], ['-o', path.join(dir, 'given')]]) {
      const r = await maestro(['run', ...out, spec], { cwd: dir, env });
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(
        /^maestro: redis-server was not found on PATH: install it \(Debian\/Ubuntu: apt-get install redis-server/m,
      );
      expect(r.stderr).toContain('--redis');
      expect(tree(dir)).toEqual(before);
    }
  });

  it('a redis-server that fails to start: its own words, and nothing left behind', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, 'badred', STUDY);
    const bin = fakeRedisServer(dir, 'echo "FATAL CONFIG FILE ERROR: no such thing" >&2; exit 1');
    mkdirSync(path.join(dir, 'given'));
    const before = tree(dir);
    const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env['PATH']}` };
    for (const out of [[], ['-o', path.join(dir, 'new', 'study')], ['-o', path.join(dir, 'given')]]) {
      const r = await maestro(['run', ...out, spec], { cwd: dir, env });
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(
        /maestro: the study's redis-server \(.*fake-bin\/redis-server\) exited with code 1 before it was ready; its last lines:\n {2}FATAL CONFIG FILE ERROR: no such thing/,
      );
      expect(tree(dir)).toEqual(before);
    }
  });

  it('a wrong Redis password: refused before any folder exists', async () => {
    const redis = await startRedisServer({ password: 'right-password' });
    servers.push(redis);
    const dir = tempDir();
    const spec = writeSpec(dir, 'wrongpw', STUDY);
    const before = tree(dir);
    const r = await maestro(
      ['run', '--redis', `redis://:wrong-password@127.0.0.1:${redis.port}`, '--local-workers', '0', spec],
      { cwd: dir },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials: WRONGPASS/);
    expect(r.stderr).not.toContain('wrong-password');
    expect(tree(dir)).toEqual(before);
  });
});
