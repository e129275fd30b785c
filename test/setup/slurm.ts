/**
 * Global setup of the slurm project: a real Slurm cluster on this machine (munged, slurmctld and
 * several slurmd, test/slurm/local-cluster.sh), started if it is not running and stopped again
 * afterwards if this run started it. Needs root and Debian's slurm-wlm and munge (.ci/run
 * installs them).
 */
import { execa } from 'execa';
import { REPO_ROOT } from '../helpers/shared.js';
import path from 'node:path';

const SCRIPT = path.join(REPO_ROOT, 'test/slurm/local-cluster.sh');

export default async function setup(): Promise<() => Promise<void>> {
  const r = await execa(SCRIPT, ['start'], { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(
      `The Slurm tests need a local Slurm cluster, and ${SCRIPT} could not start one:\n${r.stderr || r.stdout}\n` +
        '(as root: apt-get install slurm-wlm munge; .ci/run does it)',
    );
  }
  const started = r.stdout.trim().split('\n').pop() === 'started';
  return async () => {
    if (started) await execa(SCRIPT, ['stop'], { reject: false });
  };
}
