/**
 * The private `redis-server` of a study run without `--redis`: a unix socket in a 0700 folder
 * under the study's `meta/`, no TCP port, a random password, and the append-only file on so that
 * `maestro resume` finds every queued step after a crash. The password is written to one file,
 * `meta/redis/password` (0600); the server gets it on its stdin, so it is neither in its
 * configuration file nor on its command line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class RedisServerMissingError extends Error {
  override readonly name = 'RedisServerMissingError';
  constructor() {
    super(
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install redis-server; ' +
        'RHEL: dnf install redis; conda: conda install -c conda-forge redis) or run with --redis redis://HOST:PORT ' +
        '(or MAESTRO_REDIS_URL) to use a Redis server you already have.',
    );
  }
}

export interface EmbeddedRedis {
  /** `redis+unix:///.../redis.sock` (no password: see passwordFile). */
  readonly url: string;
  readonly socket: string;
  readonly passwordFile: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export const embeddedRedisDir = (metaDir: string): string => path.join(metaDir, 'redis');

/** Starts (or restarts, reusing its append-only file and password) the study's own Redis. */
export async function startEmbeddedRedis(metaDir: string): Promise<EmbeddedRedis> {
  const dir = embeddedRedisDir(metaDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const passwordFile = path.join(dir, 'password');
  let password: string;
  if (existsSync(passwordFile)) password = (await readFile(passwordFile, 'utf8')).trim();
  else {
    password = randomBytes(24).toString('hex');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  await chmod(passwordFile, 0o600);
  // Unix sockets are limited to ~107 bytes; deep study roots get a short link instead.
  const socket = path.join(dir, 'redis.sock');
  const config = path.join(dir, 'redis.conf');
  await writeFile(
    config,
    [
      'port 0',
      `unixsocket ${socket}`,
      'unixsocketperm 700',
      `dir ${dir}`,
      'appendonly yes',
      'appendfsync everysec',
      'save ""',
      'maxmemory-policy noeviction',
      // requirepass comes through stdin (below): the password is in meta/redis/password only.
      `logfile ${path.join(dir, 'redis.log')}`,
      `pidfile ${path.join(dir, 'redis.pid')}`,
      'daemonize no',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  if (Buffer.byteLength(socket) > 100) {
    throw new Error(`the study path is too long for a unix socket (${socket}); use a shorter -o folder or --redis URL`);
  }
  let child: ChildProcess;
  try {
    // It lives and dies with this conductor: a conductor killed outright takes its Redis along
    // (SIGTERM: Redis flushes its append-only file), and `maestro resume` starts it again.
    // `-`: the password comes as more configuration on stdin, not in argv, which `ps` shows.
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
    const stdio: ['pipe', 'ignore', 'ignore'] = ['pipe', 'ignore', 'ignore'];
    child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'TERM', '--', 'redis-server', config, '-'], { stdio })
      : spawn('redis-server', [config, '-'], { stdio });
  } catch {
    throw new RedisServerMissingError();
  }
  child.stdin!.on('error', () => undefined); // EPIPE if it exits at once: reported below
  child.stdin!.end(`requirepass ${password}\n`);
  const started = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => resolve(true));
  });
  if (!started) throw new RedisServerMissingError();
  for (let i = 0; i < 400 && !existsSync(socket); i++) {
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  if (!existsSync(socket)) {
    const log = await readFile(path.join(dir, 'redis.log'), 'utf8').catch(() => '');
    child.kill('SIGKILL');
    throw new Error(`the study's redis-server did not start:\n${log.split('\n').slice(-10).join('\n')}`);
  }
  return {
    url: `redis+unix://${socket}`,
    socket,
    passwordFile,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM'); // redis-server flushes its append-only file on SIGTERM
      await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
