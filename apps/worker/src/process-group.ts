/**
 * Process groups of running steps. Each step leads its own group (spawned detached), so one
 * signal reaches its shell and everything the shell started, however deep, unless a process
 * deliberately leaves the group (setsid).
 *
 * "Alive" means a member that is not a zombie: where nobody reaps orphans (a container whose
 * PID 1 is not an init), the exited grandchildren of a step stay zombies in its group forever,
 * and `kill(-pgid, 0)` keeps succeeding for them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Sends `signal` to every process of group `pgid`; false if the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Process state letter from /proc (`R`, `S`, `T`, `Z`, ...), or undefined if gone or unknown. */
function procState(statText: string): { state: string; pgrp: number } | undefined {
  // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
  const close = statText.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = statText.slice(close + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgrp) ? undefined : { state, pgrp };
}

/**
 * True when process `pid` has ended: reaped already, or a zombie waiting for its parent to reap
 * it (e.g. a step that finished while its worker was frozen). Without /proc: only "reaped".
 */
export function hasEnded(pid: number): boolean {
  try {
    return procState(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.state === 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

/** True while group `pgid` has a member that is not a zombie. */
export async function groupAlive(pgid: number): Promise<boolean> {
  try {
    if (!signalGroup(pgid, 0)) return false;
  } catch {
    return false; // EPERM: the id now belongs to someone else's group; not ours to wait for
  }
  let pids: string[];
  try {
    pids = await readdir('/proc');
  } catch {
    return true; // no /proc: the signal test above is all we have
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const st = procState(await readFile(`/proc/${pid}/stat`, 'utf8'));
      if (st && st.pgrp === pgid && st.state !== 'Z') return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

const POLL_MS = 50;

/**
 * Ends group `pgid`: SIGTERM (unless `graceMs` is 0), then SIGKILL once `graceMs` has passed
 * with a member still alive. Resolves when no member is alive, or shortly after the SIGKILL if
 * one survives it (a process stuck in the kernel; nothing more can be done).
 */
export async function terminateGroup(pgid: number, graceMs: number, escalate?: { now: boolean }): Promise<void> {
  if (graceMs > 0 && !signalGroup(pgid, 'SIGTERM')) return;
  const killAt = Date.now() + graceMs;
  while (Date.now() < killAt && !escalate?.now) {
    if (!(await groupAlive(pgid))) return;
    await sleep(POLL_MS);
  }
  if (!signalGroup(pgid, 'SIGKILL')) return;
  for (let waited = 0; waited < 1_000; waited += POLL_MS) {
    if (!(await groupAlive(pgid))) return;
    await sleep(POLL_MS);
  }
}
