/**
 * The private `redis-server` of a study run without `--redis`: a unix socket in a 0700 folder
 * under the study's `meta/`, no TCP port, a random password, and the append-only file on so that
 * `maestro resume` finds every queued step after a crash. The password is written to one file,
 * `meta/redis/password` (0600); the server gets it on its stdin, so it is neither in its
 * configuration file nor on its command line.
 *
 * Ownership is explicit. The conductor that starts the server first takes `meta/redis/owner.lock`
 * (an flock(2) lock, which the server inherits, so that it outlives a conductor killed outright
 * until its Redis is gone too); only that process stops the server. A second conductor finds the
 * lock taken and is refused before it touches Redis: it can never start a second server on the
 * same files, nor stop the one the first conductor uses.
 *
 * The server runs in its own session (process group): a Ctrl-C at the terminal, which signals
 * the whole foreground group, reaches the conductor only, which stops its workers first, commits,
 * and stops Redis last.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class RedisServerMissingError extends Error {
  override readonly name = 'RedisServerMissingError';
  constructor() {
    super(
      'redis-server was not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; ' +
        'RHEL: dnf install redis; conda: conda install -c conda-forge redis), or run with --redis redis://HOST:PORT ' +
        '(or MAESTRO_REDIS_URL) to use a Redis server you already have',
    );
  }
}

/** The study's redis-server exited, or never opened its socket, before it was ready. */
export class RedisServerStartError extends Error {
  override readonly name = 'RedisServerStartError';
}

/** Another conductor holds the study (its embedded Redis's owner lock). */
export class StudyBusyError extends Error {
  override readonly name = 'StudyBusyError';
  constructor(readonly holder: string) {
    const [host, pid] = holder.split(':');
    super(`another conductor (host ${host}, pid ${pid}) is driving this study; only one may run it at a time`);
  }
}

/** How the server ended. `expected`: after stop() or kill(), not by itself. */
export interface RedisExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly expected: boolean;
}

export interface EmbeddedRedis {
  /** `redis+unix:///.../redis.sock` (no password: see passwordFile). */
  readonly url: string;
  readonly socket: string;
  readonly passwordFile: string;
  /** Its log file, `meta/redis/redis.log`. */
  readonly logFile: string;
  readonly process: ChildProcess;
  /** Settles when the server exits, whatever ends it. */
  readonly exited: Promise<RedisExit>;
  /** The last lines of its log and error output: what to show when it died. */
  lastLines(count?: number): Promise<string>;
  /** SIGTERM (Redis flushes its append-only file), SIGKILL after 10 s; then the lock is released. */
  stop(): Promise<void>;
  /** SIGTERM without waiting (a second Ctrl-C: the process exits next). */
  kill(): void;
}

/** The study's owner lock, held while the returned handle's fd is open. */
export interface OwnerLock {
  /** -1 where flock(1) is missing or the file system has no locks: the study lease still guards it. */
  readonly fd: number;
  release(): void;
}

export const embeddedRedisDir = (metaDir: string): string => path.join(metaDir, 'redis');

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const FLOCK = ['/usr/bin/flock', '/bin/flock'].find((p) => existsSync(p));
/** flock(1)'s exit code when the lock is taken (`--conflict-exit-code`). */
const LOCK_TAKEN = 75;
/** How long a lock left by a conductor that died may take to be released (its Redis shutting down). */
const DEAD_HOLDER_WAIT_MS = 15_000;
const READY_WAIT_MS = 10_000;
const READY_POLL_MS = 5;

/** The absolute path of `redis-server` on PATH; throws RedisServerMissingError if there is none. */
export function findRedisServer(envPath = process.env['PATH'] ?? ''): string {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new RedisServerMissingError();
}

/** True while process `pid` exists on this host (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}

async function tryFlock(fd: number): Promise<'taken' | 'held' | 'unsupported'> {
  if (!FLOCK) return 'unsupported';
  const child = spawn(FLOCK, ['--nonblock', '--exclusive', '--conflict-exit-code', String(LOCK_TAKEN), '3'], {
    stdio: ['ignore', 'ignore', 'ignore', fd],
  });
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('exit', (c) => resolve(c));
  });
  return code === 0 ? 'held' : code === LOCK_TAKEN ? 'taken' : 'unsupported';
}

/**
 * Takes the study's owner lock (`meta/redis/owner.lock`), writing `host:pid` into it. Refused
 * with StudyBusyError while a live conductor holds it; a lock left by a conductor that died is
 * waited for (its Redis, which inherited it, is shutting down) for up to 15 s.
 */
export async function lockEmbeddedRedis(metaDir: string): Promise<OwnerLock> {
  const dir = embeddedRedisDir(metaDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'owner.lock');
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  const deadline = Date.now() + DEAD_HOLDER_WAIT_MS;
  let holder = '';
  for (;;) {
    const got = await tryFlock(fd);
    if (got === 'unsupported') return { fd: -1, release: () => closeSync(fd) };
    if (got === 'held') break;
    holder = readText(file);
    const [host, pid] = holder.split(':');
    // A live holder (or one on another host, which cannot be checked) is a conductor at work. An
    // empty or dead one is a conductor just starting (it writes its name next) or one that died.
    if (host && Number(pid) > 0 && (host !== hostname() || alive(Number(pid)))) {
      closeSync(fd);
      throw new StudyBusyError(holder);
    }
    if (Date.now() > deadline) {
      closeSync(fd);
      const server = readText(path.join(dir, 'redis.pid'));
      throw new RedisServerStartError(
        `the study's redis-server${server ? ` (pid ${server})` : ''} still holds ${file} although the conductor that started it${pid ? ` (pid ${pid})` : ''} is gone; stop that server, then resume again`,
      );
    }
    await sleep(100);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${hostname()}:${process.pid}\n`, 0);
  let released = false;
  return {
    fd,
    release: () => {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

/**
 * Starts (or restarts, reusing its append-only file and password) the study's own Redis. The
 * caller holds `lock` (lockEmbeddedRedis); the server inherits it, and stop() releases it.
 */
export async function startEmbeddedRedis(metaDir: string, lock: OwnerLock): Promise<EmbeddedRedis> {
  const bin = findRedisServer();
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
  const socket = path.join(dir, 'redis.sock');
  const config = path.join(dir, 'redis.conf');
  const logFile = path.join(dir, 'redis.log');
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
      // A script past this many ms makes Redis answer every other command BUSY (default 5 s),
      // which workers and the conductor would take for errors. A commit of a very large study,
      // or a server starved of CPU, can take that long: clients wait instead. (The Redis 6 name;
      // Redis 7 calls it busy-reply-threshold and accepts this one.)
      'lua-time-limit 60000',
      // requirepass comes through stdin (below): the password is in meta/redis/password only.
      `logfile ${logFile}`,
      `pidfile ${path.join(dir, 'redis.pid')}`,
      'daemonize no',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  if (Buffer.byteLength(socket) > 100) {
    throw new RedisServerStartError(
      `the study path is too long for a unix socket (${socket}); use a shorter -o folder or --redis URL`,
    );
  }
  // A socket left by a server that died would look ready at once. We hold the lock: it is no one's.
  await rm(socket, { force: true });
  // It lives and dies with this conductor: a conductor killed outright takes its Redis along
  // (SIGTERM: Redis flushes its append-only file), and `maestro resume` starts it again.
  // `-`: the password comes as more configuration on stdin, not in argv, which `ps` shows.
  const stdio = ['pipe', 'ignore', 'pipe', ...(lock.fd >= 0 ? [lock.fd] : [])] as ('pipe' | 'ignore' | number)[];
  const [cmd, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'TERM', '--', bin, config, '-'] : [bin, config, '-'];
  const child = spawn(cmd!, args, { stdio, detached: true });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  child.stdin!.on('error', () => undefined); // EPIPE if it exits at once: reported below
  child.stdin!.end(`requirepass ${password}\n`);
  let expected = false;
  const exited = new Promise<RedisExit>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null, expected }));
    child.once('exit', (code, signal) => resolve({ code, signal, expected }));
  });
  const lastLines = async (count = 10): Promise<string> => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const lines = `${log}\n${stderr}`.split('\n').filter((l) => l.trim() !== '');
    return lines.slice(-count).join('\n');
  };
  // Nothing here keeps this process alive: the conductor stops the server when it is done, and
  // a conductor that ends otherwise takes it along (parent-death signal).
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  // Polled often: redis-server opens its socket within a few milliseconds, and the workers and
  // the first step wait for it; a check is one stat call.
  const started = performance.now();
  while (!existsSync(socket) && child.exitCode === null && child.signalCode === null) {
    if (performance.now() - started >= READY_WAIT_MS) break;
    await sleep(READY_POLL_MS);
  }
  if (!existsSync(socket)) {
    const ended = child.exitCode !== null || child.signalCode !== null;
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(1000)]);
    const tail = await lastLines();
    const how = !ended
      ? `did not open its socket within ${READY_WAIT_MS / 1000} s`
      : child.signalCode
        ? `was killed by ${child.signalCode} before it was ready`
        : `exited with code ${child.exitCode} before it was ready`;
    throw new RedisServerStartError(
      `the study's redis-server (${bin}) ${how}${tail ? `; its last lines:\n${indent(tail)}` : ' and wrote nothing'}`,
    );
  }
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    url: `redis+unix://${socket}`,
    socket,
    passwordFile,
    logFile,
    process: child,
    exited,
    lastLines,
    stop: async () => {
      expected = true;
      if (!gone()) {
        child.kill('SIGTERM'); // redis-server flushes its append-only file on SIGTERM
        // A timer that keeps the process alive until the server is gone (the child is unref'd).
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      lock.release();
    },
    kill: () => {
      expected = true;
      if (!gone()) child.kill('SIGTERM');
    },
  };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
