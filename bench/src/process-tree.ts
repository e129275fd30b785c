/**
 * Peak RSS of a process and everything it started, read from /proc while it runs: each
 * process's VmHWM (the kernel's own high-water mark of its resident set), kept per pid and
 * sorted into roles by command line. Sampling only misses growth in a process's last interval
 * before it exits, since VmHWM never falls.
 */
import { readFileSync } from 'node:fs';

export type Role = 'conductor' | 'worker' | 'redis' | 'other';

interface Seen {
  role: Role;
  peakKiB: number;
}

function readProc(pid: number): { hwmKiB: number; cmd: string; children: number[] } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwmKiB = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    // Children of the main thread, which is where Node and redis-server spawn from.
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return { hwmKiB, cmd, children: text ? text.split(' ').map(Number) : [] };
  } catch {
    return undefined; // gone between listing and reading
  }
}

function roleOf(cmd: string, isRoot: boolean): Role {
  if (isRoot) return 'conductor';
  if (/redis-server/.test(cmd)) return 'redis';
  if (/worker/.test(cmd) && /node/.test(cmd)) return 'worker';
  return 'other';
}

/** Samples the tree under `rootPid` every `intervalMs` until stop(); then the peaks by role. */
export function watchTree(rootPid: number, intervalMs = 10): { stop(): Map<Role, number[]> } {
  const seen = new Map<number, Seen>();
  // Walks down from the root only: reading all of /proc each time would cost the run measured.
  const sample = (): void => {
    const todo = [rootPid];
    for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
      const p = readProc(pid);
      if (!p) continue;
      todo.push(...p.children);
      const old = seen.get(pid);
      // A role read once sticks: a worker's command line is setpriv's until it execs node.
      const role = old && old.role !== 'other' ? old.role : roleOf(p.cmd, pid === rootPid);
      seen.set(pid, { role, peakKiB: Math.max(old?.peakKiB ?? 0, p.hwmKiB) });
    }
  };
  const timer = setInterval(sample, intervalMs);
  sample();
  return {
    stop() {
      clearInterval(timer);
      const byRole = new Map<Role, number[]>();
      for (const s of seen.values()) byRole.set(s.role, [...(byRole.get(s.role) ?? []), s.peakKiB / 1024]);
      return byRole;
    },
  };
}
