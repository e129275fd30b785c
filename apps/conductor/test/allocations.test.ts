/**
 * Batch scripts from the templates in deploy/, the commands that submit them, and the checks
 * before: node sizes and queues as the scheduler says them, walltimes as users write them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AllocationError } from '../src/allocations/errors.js';
import {
  checkStudyFits,
  defaultTemplate,
  probeNodes,
  type DemandGroup,
  type LaunchSettings,
} from '../src/allocations/launch.js';
import { nodeSizeOfRlist, type NodeSize, type SchedulerClient } from '../src/allocations/schedulers.js';
import {
  fluxDuration,
  renderScript,
  shellQuote,
  submitCommand,
  type ScriptRequest,
} from '../src/allocations/render.js';
import { parseAllocationWalltime, resolveAllocationSettings } from '../src/cli/allocation-options.js';

const env = { MAESTRO_REDIS_URL: 'redis://head:6379', MAESTRO_PREFIX: "it's" };

const request = (over: Partial<ScriptRequest>): ScriptRequest => ({
  scheduler: 'slurm',
  jobName: 'maestro.lab',
  nodes: 4,
  walltimeSeconds: 7200,
  partition: 'pbatch',
  account: 'mybank',
  output: '/study/workers/slurm-%j.out',
  env,
  ...over,
});

describe('renderScript', () => {
  it('fills the Slurm template: directives, exports, one worker per node through srun --overlap', () => {
    const script = renderScript(
      readFileSync(defaultTemplate('slurm'), 'utf8'),
      request({ qos: 'standby', extra: '--constraint=haswell' }),
    );
    const lines = script.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines.filter((l) => l.startsWith('#SBATCH'))).toEqual([
      '#SBATCH --job-name=maestro.lab',
      '#SBATCH --nodes=4',
      '#SBATCH --output=/study/workers/slurm-%j.out',
      '#SBATCH --exclusive',
      '#SBATCH --time=02:00:00',
      '#SBATCH --partition=pbatch',
      '#SBATCH --account=mybank',
      '#SBATCH --qos=standby',
      '#SBATCH --constraint=haswell',
    ]);
    expect(lines).toContain("export MAESTRO_REDIS_URL='redis://head:6379'");
    expect(lines).toContain(`export MAESTRO_PREFIX='it'\\''s'`);
    expect(script).toContain(
      'exec srun --overlap --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node="$MAESTRO_WORKERS_PER_NODE" \\\n  --kill-on-bad-exit=0 "$MAESTRO_NODE" "$MAESTRO_WORKER_BIN"\n',
    );
    expect(script).not.toMatch(/\{\{\s*\w+\s*\}\}|\n\n\n/);
  });

  it('fills the Flux template with # flux: directives; the workers go on every node by flux exec, holding no cores', () => {
    const script = renderScript(
      readFileSync(defaultTemplate('flux'), 'utf8'),
      request({ scheduler: 'flux', output: '/study/workers/flux-{{id}}.out', gpusPerNode: 4 }),
    );
    expect(script.split('\n').filter((l) => l.startsWith('# flux:'))).toEqual([
      '# flux: --job-name=maestro.lab',
      '# flux: -N 4',
      '# flux: --output=/study/workers/flux-{{id}}.out',
      '# flux: -t 120m',
      '# flux: -q pbatch',
      '# flux: --setattr=system.bank=mybank',
      '# flux: --gpus-per-node=4',
    ]);
    // FLUX_JOB_ID is not set in a batch script: the instance names the allocation.
    expect(script).toContain('MAESTRO_ALLOCATION_ID=$(flux getattr jobid) && export MAESTRO_ALLOCATION_ID\n');
    expect(script).toContain('  flux exec -r all -n "$MAESTRO_NODE" "$MAESTRO_WORKER_BIN" &\n');
    expect(script).not.toMatch(/^\s*(exec )?flux run/m);
    // The signals Flux ends an allocation with reach the workers as SIGTERM; flux exec ignores them.
    expect(script).toContain("trap '' ALRM HUP USR1 USR2\n");
    expect(script).toContain('trap \'kill -TERM "${pids[@]}" 2>/dev/null\' ALRM HUP TERM USR1 USR2\n');
  });

  it('refuses a template field it does not know, naming the known ones', () => {
    expect(() => renderScript('#SBATCH --mem={{ memory }}\n', request({}))).toThrow(
      'unknown field {{ memory }} in the template; known: job_name, nodes, output, directives, exports',
    );
  });
});

describe('submitCommand', () => {
  it('submits Slurm scripts as they are, Flux ones with the contract flags', () => {
    expect(submitCommand(request({}), '/s/w.sbatch')).toEqual({ file: 'sbatch', args: ['--parsable', '/s/w.sbatch'] });
    expect(submitCommand(request({ scheduler: 'flux' }), '/s/w.sh')).toEqual({
      file: 'flux',
      args: ['batch', '-N', '4', '-t', '120m', '-q', 'pbatch', '--setattr=system.bank=mybank', '/s/w.sh'],
    });
    expect(
      submitCommand(
        request({ scheduler: 'flux', walltimeSeconds: undefined, partition: undefined, account: undefined }),
        '/s/w.sh',
      ),
    ).toEqual({
      file: 'flux',
      args: ['batch', '-N', '4', '/s/w.sh'],
    });
  });

  it('writes Flux durations in minutes when it can', () => {
    expect(fluxDuration(7200)).toBe('120m');
    expect(fluxDuration(90)).toBe('90s');
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});

const settings = (over: Partial<LaunchSettings>): LaunchSettings => ({
  scheduler: 'slurm',
  nodes: 2,
  workersPerNode: 1,
  queues: ['steps'],
  jobName: 'j',
  ...over,
});
const group = (step: string, resources: DemandGroup['resources'], over: Partial<DemandGroup> = {}): DemandGroup => ({
  step,
  queue: 'steps',
  instances: 1,
  resources,
  timeoutMs: undefined,
  ...over,
});

describe('checkStudyFits', () => {
  it('refuses steps with more cores than a worker of the allocation gets; warns about the rest', () => {
    const groups = [
      group('sim', { procs: 8, coresPerTask: 2 }, { instances: 10 }),
      group('post', { gpus: 1 }),
      group('wide', { nodes: 4 }),
      group('slow', {}, { timeoutMs: 3 * 3600_000 }),
      group('other', { procs: 64 }, { queue: 'elsewhere' }),
      group('ok', { procs: 4 }),
    ];
    const r = checkStudyFits(groups, settings({ walltimeSeconds: 3600, workersPerNode: 2 }), 16);
    expect(r.refused).toEqual([
      'step sim (10 instances) needs 16 cores on a node; a worker here has 8 (2 workers per node share its 16 cores)',
    ]);
    expect(r.warnings).toEqual([
      'step post cannot run in this allocation: it needs 1 GPU on a node (the worker has 0)',
      'step wide cannot run in this allocation: it needs 4 nodes (the allocation has 2)',
      "step slow has a walltime of 03:00:00, longer than this allocation's 01:00:00: it will not start here",
    ]);
  });

  it('cannot refuse anything when the size of nodes is unknown', () => {
    expect(checkStudyFits([group('sim', { procs: 999 })], settings({}), undefined)).toEqual({
      refused: [],
      warnings: [],
    });
  });
});

describe('resolveAllocationSettings', () => {
  const defaults = { queues: ['steps', 'post'], prefix: 'lab' };

  it("takes what the flags do not say from the spec's batch block", () => {
    const batch = {
      type: 'slurm',
      queue: 'pbatch',
      bank: 'mybank',
      nodes: 3,
      walltime: '01:30:00',
      reservation: 'res',
      qos: 'high',
    };
    expect(resolveAllocationSettings({ nodes: 2 }, { ...defaults, batch })).toEqual({
      scheduler: 'slurm',
      nodes: 2,
      walltimeSeconds: 5400,
      partition: 'pbatch',
      account: 'mybank',
      reservation: 'res',
      qos: 'high',
      gpusPerNode: undefined,
      workersPerNode: 1,
      coresPerNode: undefined,
      concurrency: undefined,
      queues: ['steps', 'post'],
      idleTimeout: undefined,
      preemptMargin: undefined,
      extra: undefined,
      jobName: 'maestro.lab',
      template: undefined,
    });
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      resolveAllocationSettings(
        {
          scheduler: 'flux',
          partition: 'a',
          queue: 'b',
          walltime: 'soon',
          idleTimeout: 'later',
          reservation: 'r',
          extra: 'x\ny',
        },
        { ...defaults, needWalltime: true },
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AllocationError);
    expect((error as AllocationError).code).toBe('ALLOCATION_INVALID');
    expect((error as AllocationError).message.split('\n')).toEqual([
      "--partition/--queue: two different values, 'a' and 'b'",
      '--extra: must be one line',
      "--walltime: 'soon' is not a walltime; write minutes (90), M:S, H:M:S (01:30:00) or D-H:M:S",
      "--idle-timeout: 'later' is not a duration; write e.g. 30s, 5m, 1h30m",
      '--reservation: Flux has no reservations; pass what your site uses in --extra',
    ]);
  });

  it('asks for a scheduler when neither the flags nor the spec name one', () => {
    expect(() => resolveAllocationSettings({}, defaults)).toThrow(
      '--scheduler: give slurm, flux or local (the spec names none in batch.type)',
    );
  });

  it("says so when the spec's batch type is one maestro cannot launch workers with", () => {
    expect(() => resolveAllocationSettings({}, { ...defaults, batch: { type: 'lsf-srun' } })).toThrow(
      "--scheduler: the spec's batch.type 'lsf-srun' is not a scheduler maestro launches workers with; give slurm, flux or local",
    );
  });
});

describe('Flux: walltimes, node sizes, queues', () => {
  it('takes a Flux duration wherever an allocation walltime is given, and the Slurm forms as before', () => {
    expect(parseAllocationWalltime('5m')).toBe(300);
    expect(parseAllocationWalltime('2h')).toBe(7200);
    expect(parseAllocationWalltime('30s')).toBe(30);
    expect(parseAllocationWalltime('1.5h')).toBe(5400);
    expect(parseAllocationWalltime('1d')).toBe(86400);
    expect(parseAllocationWalltime('90')).toBe(5400);
    expect(parseAllocationWalltime('01:30:00')).toBe(5400);
    expect(parseAllocationWalltime('0s')).toBeUndefined();
    expect(() => parseAllocationWalltime('5x')).toThrow(/'5x' is not a walltime/);
    const flux = resolveAllocationSettings({ scheduler: 'flux', walltime: '5m' }, { queues: ['steps'], prefix: 'p' });
    expect(flux.walltimeSeconds).toBe(300);
    const fromSpec = resolveAllocationSettings(
      { scheduler: 'slurm' },
      { queues: ['steps'], prefix: 'p', batch: { walltime: '2h' } },
    );
    expect(fromSpec.walltimeSeconds).toBe(7200);
  });

  it('reads cores and GPUs per node from flux resource list -o {rlist}', () => {
    expect(nodeSizeOfRlist('rank[0-1]/core[0-1]\n')).toEqual({ min: 2, max: 2, gpus: 0 });
    expect(nodeSizeOfRlist('rank0/core[0-3],gpu[0-1] rank[1-2,5]/core[0-35]')).toEqual({ min: 4, max: 36, gpus: 0 });
    expect(nodeSizeOfRlist('rank[0-3]/core[0-63],gpu[0-3]')).toEqual({ min: 64, max: 64, gpus: 4 });
    expect(nodeSizeOfRlist('rank7/core5')).toEqual({ min: 1, max: 1, gpus: 0 });
    expect(nodeSizeOfRlist('\n')).toBeUndefined();
  });

  const client = (size: NodeSize | Error | undefined): SchedulerClient => ({
    name: 'flux',
    submit: () => Promise.reject(new Error('not here')),
    cancel: () => Promise.resolve(),
    states: () => Promise.resolve(new Map()),
    nodeCores: () => (size instanceof Error ? Promise.reject(size) : Promise.resolve(size)),
  });

  it('asks the scheduler how large its nodes are, and refuses --cores-per-node above it', async () => {
    const flux = settings({ scheduler: 'flux' });
    const said: string[] = [];
    const warn = (m: string): number => said.push(m);
    expect(await probeNodes(flux, client({ min: 2, max: 2, gpus: 1 }), warn)).toEqual({
      coresPerNode: 2,
      gpusPerNode: 1,
    });
    expect(await probeNodes({ ...flux, coresPerNode: 1 }, client({ min: 2, max: 2 }), warn)).toMatchObject({
      coresPerNode: 1,
    });
    await expect(probeNodes({ ...flux, coresPerNode: 4 }, client({ min: 2, max: 2 }), warn)).rejects.toThrow(
      "--cores-per-node 4: Flux's nodes have at most 2 cores; a worker would hand out cores it does not have (leave it out: the workers ask)",
    );
    // A queue it does not have is refused; a scheduler that cannot be asked is only a warning.
    const noQueue = new AllocationError('ALLOCATION_INVALID', '--queue: no such queue');
    await expect(probeNodes(flux, client(noQueue), warn)).rejects.toBe(noQueue);
    expect(await probeNodes({ ...flux, coresPerNode: 4 }, client(new Error('flux is not installed')), warn)).toEqual({
      coresPerNode: 4,
      gpusPerNode: undefined,
    });
    expect(said).toEqual([]); // given: nothing missing
    expect(await probeNodes(flux, client(new Error('flux is not installed')), warn)).toEqual({
      coresPerNode: undefined,
      gpusPerNode: undefined,
    });
    expect(said).toEqual(['flux is not installed']);
  });
});
