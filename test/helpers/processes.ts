/** Long-running maestro processes for end-to-end tests, cleaned up whatever the test does. */
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { MAESTRO_BIN, WORKER_BIN } from './cli.js';

/** What these helpers start: `all` (stdout and stderr interleaved) is a string, never a reject. */
export type Started = ResultPromise<{ reject: false; all: true }>;

const started = new Set<Started>();

/**
 * What each process printed so far, and how far earlier waits consumed it. Kept from the start, so
 * that two lines printed in one chunk are both seen by two waits one after the other (under load
 * they often come together).
 */
interface Printed {
  text: string;
  cursor: number;
  readonly listeners: Set<() => void>;
}
const printed = new WeakMap<Readable, Printed>();

function printedOf(stream: Readable): Printed {
  let p = printed.get(stream);
  if (!p) {
    const state: Printed = { text: '', cursor: 0, listeners: new Set() };
    stream.on('data', (chunk: Buffer) => {
      state.text += chunk.toString();
      for (const l of [...state.listeners]) l();
    });
    printed.set(stream, (p = state));
  }
  return p;
}

function track(p: Started): Started {
  started.add(p);
  void p.finally(() => started.delete(p));
  if (p.all) printedOf(p.all);
  return p;
}

/**
 * `maestro ARGS`. With `detached`, in a process group of its own, as a shell starts a job in a
 * terminal: `process.kill(-p.pid, 'SIGINT')` then signals it as Ctrl-C does (see signalGroup).
 */
export function startMaestro(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {},
): Started {
  return track(execa(process.execPath, [MAESTRO_BIN, ...args], { reject: false, all: true, ...options }));
}

/**
 * `maestro run SPEC -o ROOT --redis URL [--prefix P] [--local-workers N] EXTRA...`: a study run
 * against a test's Redis.
 */
export function startRun(
  spec: string,
  root: string,
  redisUrl: string,
  options: { prefix?: string; localWorkers?: number; extra?: readonly string[] } = {},
): Started {
  const { prefix, localWorkers, extra = [] } = options;
  return startMaestro([
    'run',
    '-o',
    root,
    '--redis',
    redisUrl,
    ...(prefix === undefined ? [] : ['--prefix', prefix]),
    ...(localWorkers === undefined ? [] : ['--local-workers', String(localWorkers)]),
    ...extra,
    spec,
  ]);
}

export function startWorker(redisUrl: string, prefix: string, name: string, extra: readonly string[] = []): Started {
  return track(
    execa(process.execPath, [WORKER_BIN, '--prefix', prefix, '--name', name, ...extra], {
      reject: false,
      all: true,
      env: { MAESTRO_REDIS_URL: redisUrl },
    }),
  );
}

/**
 * Waits until a started process prints a line matching `re` (stdout or stderr), after what earlier
 * waits on it matched, and returns the match; fails if the process exits first or nothing matches
 * within `timeoutMs`.
 */
export function waitForOutput(
  p: { all?: Readable | undefined; stdout?: Readable | null } & PromiseLike<{ exitCode?: number | undefined }>,
  re: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const stream = p.all ?? p.stdout;
    if (!stream) {
      reject(new Error('the process was started without output capture'));
      return;
    }
    const out = printedOf(stream);
    const unseen = (): string => out.text.slice(out.cursor);
    const done = (): void => {
      clearTimeout(timer);
      out.listeners.delete(check);
    };
    const check = (): void => {
      const m = re.exec(unseen());
      if (!m) return;
      out.cursor += m.index + m[0].length;
      done();
      resolve(m);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no output matching ${re} within ${timeoutMs} ms; got:\n${unseen()}`));
    }, timeoutMs);
    out.listeners.add(check);
    check();
    p.then(
      (r) => {
        if (!out.listeners.has(check)) return;
        check(); // the last chunk may have come with the exit
        if (!out.listeners.has(check)) return;
        done();
        reject(new Error(`the process exited (${r.exitCode}) before printing ${re}:\n${unseen()}`));
      },
      () => undefined,
    );
  });
}

/** Kills every process a test started (SIGKILL: tests that want a clean stop do it themselves). */
export async function killAll(): Promise<void> {
  const all = [...started];
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(all.map((p) => p.catch(() => undefined)));
}

/** What /proc says of a process: its parent, process group and state letter (Z: a zombie). */
function procStat(pid: number): { ppid: number; pgrp: number; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie waiting for its parent counts as ended). */
export function isAlive(pid: number): boolean {
  const st = procStat(pid);
  return st !== undefined && st.state !== 'Z';
}

/**
 * The live processes of a started command: the members of its process group `pgid` and every
 * descendant of its leader, wherever they moved (their own groups or sessions), read from /proc.
 */
export function processFamily(pgid: number): number[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .flatMap((pid) => {
      const st = procStat(pid);
      return st && st.state !== 'Z' ? [{ pid, ...st }] : [];
    });
  const family = new Set(all.filter((p) => p.pgrp === pgid || p.pid === pgid).map((p) => p.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!family.has(p.pid) && family.has(p.ppid)) {
        family.add(p.pid);
        grew = true;
      }
    }
  }
  return [...family].sort((a, b) => a - b);
}

/** Sends `signal` to process group `pgid`, as a terminal's Ctrl-C (SIGINT) or `timeout` (SIGTERM) does. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  process.kill(-pgid, signal);
}

/** Command lines of processes, for a test's failure message. */
export function describeProcesses(pids: readonly number[]): string {
  return pids
    .map((pid) => {
      try {
        return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`;
      } catch {
        return `${pid}: (gone)`;
      }
    })
    .join('\n');
}
