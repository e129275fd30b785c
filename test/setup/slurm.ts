/**
 * Global setup of the slurm project: a real Slurm cluster on this machine (munged, slurmctld and
 * several slurmd, test/slurm/local-cluster.sh), started if it is not running and stopped again
 * afterwards if a test run started it and no other test run still uses it (two checkouts' suites
 * may run at once on one machine; the first to end must not pull the cluster from under the
 * other). Needs root and Debian's slurm-wlm and munge (.ci/run installs them).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from '../helpers/shared.js';

const SCRIPT = path.join(REPO_ROOT, 'test/slurm/local-cluster.sh');
const DIR = process.env['MAESTRO_SLURM_DIR'] ?? '/var/lib/slurm-local';
/** One empty file per test run using the cluster, named by its pid. */
const USERS = path.join(DIR, 'test-runs');
/** Present while the cluster running was started by a test run, not by a person. */
const STARTED_BY_TESTS = path.join(DIR, 'started-by-tests');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function otherLiveUsers(): number[] {
  if (!existsSync(USERS)) return [];
  return readdirSync(USERS)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid && isAlive(pid));
}

export default async function setup(): Promise<() => Promise<void>> {
  const r = await execa(SCRIPT, ['start'], { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(
      `The Slurm tests need a local Slurm cluster, and ${SCRIPT} could not start one:\n${r.stderr || r.stdout}\n` +
        '(as root: apt-get install slurm-wlm munge; .ci/run does it)',
    );
  }
  if (r.stdout.trim().split('\n').pop() === 'started') writeFileSync(STARTED_BY_TESTS, '');
  mkdirSync(USERS, { recursive: true });
  const me = path.join(USERS, String(process.pid));
  writeFileSync(me, '');
  return async () => {
    rmSync(me, { force: true });
    if (otherLiveUsers().length > 0 || !existsSync(STARTED_BY_TESTS)) return;
    rmSync(STARTED_BY_TESTS, { force: true });
    await execa(SCRIPT, ['stop'], { reject: false });
  };
}
