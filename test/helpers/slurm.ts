/** Helpers for tests against the local Slurm cluster (test/slurm/local-cluster.sh). */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { startClusterRedis, type ClusterRedis } from './redis-server.js';

/** Jobs Slurm still lists (pending, running, completing): id -> state and job name. */
export function squeue(): Map<string, { state: string; name: string }> {
  const out = execFileSync('squeue', ['-h', '-o', '%i %T %j'], { encoding: 'utf8' });
  const jobs = new Map<string, { state: string; name: string }>();
  for (const line of out.split('\n')) {
    const [id, state, name] = line.trim().split(/\s+/);
    if (id && state && name) jobs.set(id, { state, name });
  }
  return jobs;
}

/** Ids of the jobs Slurm lists under this job name. */
export function jobsNamed(name: string): string[] {
  return [...squeue()].filter(([, job]) => job.name === name).map(([id]) => id);
}

export function scancel(id: string): void {
  execFileSync('scancel', [id]);
}

/**
 * The password-protected Redis the cluster's nodes reach, started once for the calling test file,
 * and the flags that point `maestro` at it.
 */
export function useClusterRedis(): { redis(): ClusterRedis; flags(): string[] } {
  let started: ClusterRedis | undefined;
  beforeAll(async () => {
    started = await startClusterRedis();
  });
  afterAll(async () => {
    await started?.server.stop();
  });
  const redis = (): ClusterRedis => {
    if (!started) throw new Error('the cluster Redis is not started (call useClusterRedis at the top of the file)');
    return started;
  };
  return { redis, flags: () => ['--redis', redis().url, '--redis-password-file', redis().passwordFile] };
}
