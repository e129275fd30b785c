/**
 * The reaper: one small helper process per worker (scripts/reaper.sh) that kills the worker's
 * step process groups if the worker dies. A SIGKILLed Node process takes none of its children
 * along, and a step's shell and grandchildren would go on running, so a re-delivered step would
 * run twice in one workspace (bullmq-facts.md).
 *
 * The worker tells the reaper which groups exist through a pipe on its stdin (`+PGID` / `-PGID`
 * lines). When the worker dies, the kernel closes the pipe and the reaper reads end of file; it
 * is also started under `setpriv --pdeathsig TERM` where setpriv exists, so the kernel sends it
 * SIGTERM when the worker dies. Either way it kills every registered group (TERM, then KILL).
 *
 * Invariants: the worker's end of the pipe is close-on-exec (libuv opens every pipe that way), so
 * steps never hold it and cannot keep the reaper waiting; the reaper's stdout and stderr are
 * /dev/null, so it never holds the worker's output open for whoever reads it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { WorkerError, WorkerErrorCode } from './errors.js';

export const REAPER_SCRIPT = fileURLToPath(new URL('../scripts/reaper.sh', import.meta.url));

/** Seconds between the reaper's SIGTERM and SIGKILL to a dead worker's step groups. */
const REAPER_GRACE_S = 2;
/** A reaper that keeps dying is not restarted forever. */
const MAX_RESTARTS = 3;

export interface Reaper {
  track(pgid: number): void;
  untrack(pgid: number): void;
  /** Ends the reaper (it kills any group still registered) and waits for it to exit. */
  close(): Promise<void>;
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function startReaper(log: Logger): Reaper {
  const groups = new Set<number>();
  const setpriv = findOnPath('setpriv');
  let child: ChildProcess;
  let closing = false;
  let restarts = 0;

  const send = (line: string): void => {
    if (child.stdin && !child.stdin.destroyed) child.stdin.write(`${line}\n`);
  };

  const launch = (): void => {
    const args = [REAPER_SCRIPT, String(process.pid), String(REAPER_GRACE_S)];
    child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'TERM', 'bash', ...args], { stdio: ['pipe', 'ignore', 'ignore'] })
      : spawn('bash', args, { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', (err) => log.error({ err }, 'reaper error'));
    if (child.pid === undefined) {
      throw new WorkerError(WorkerErrorCode.Reaper, `cannot start the reaper (bash ${REAPER_SCRIPT})`);
    }
    // EPIPE after the reaper died: the 'exit' handler below deals with it.
    child.stdin!.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      if (closing) return;
      log.error({ code, signal, groups: groups.size }, 'reaper exited; restarting it');
      if (restarts++ >= MAX_RESTARTS) {
        log.error('reaper keeps exiting: steps will outlive this worker if it is killed');
        return;
      }
      launch();
      for (const g of groups) send(`+${g}`);
    });
    log.debug({ pid: child.pid, pdeathsig: setpriv !== undefined }, 'reaper started');
  };
  launch();

  return {
    track(pgid) {
      groups.add(pgid);
      send(`+${pgid}`);
    },
    untrack(pgid) {
      if (groups.delete(pgid)) send(`-${pgid}`);
    },
    async close() {
      closing = true;
      const current = child;
      if (current.exitCode !== null || current.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.stdin?.end();
      await exited;
    },
  };
}
