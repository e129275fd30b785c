/** Helpers for tests against the local Slurm cluster (test/slurm/local-cluster.sh). */
import { execFileSync } from 'node:child_process';

/** Jobs Slurm still lists (pending, running, completing): id -> state. */
export function squeue(): Map<string, string> {
  const out = execFileSync('squeue', ['-h', '-o', '%i %T'], { encoding: 'utf8' });
  return new Map(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f): f is [string, string] => f.length === 2)
      .map(([id, state]) => [id, state]),
  );
}

export function scancel(id: string): void {
  execFileSync('scancel', [id]);
}
