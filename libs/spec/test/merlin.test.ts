/**
 * Merlin specs: Merlin's own keys (the `merlin:` block, per-step `task_queue`, `max_retries`,
 * `shell`, ...) and a `user:` block of YAML anchors are accepted, and change nothing in the DAG.
 * fixtures/merlin/merlin-study.yaml must expand exactly as fixtures/merlin/plain-study.yaml, the
 * same study written out by hand as plain Maestro (aliases and merge keys resolved, Merlin's keys
 * removed; PyYAML loads the two to the same study once those keys are dropped).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandStudy, parseStudy, SpecError, SpecErrorCode, type ExpandedStudy, type ParsedStudy } from '@maestro/spec';

const fixtures = path.join(import.meta.dirname, 'fixtures/merlin');
const MERLIN_FILE = path.join(fixtures, 'merlin-study.yaml');
const PLAIN_FILE = path.join(fixtures, 'plain-study.yaml');

/** The `run:` keys of the Merlin fixture that plain Maestro does not have. */
const MERLIN_RUN_KEYS = [
  'task_queue',
  'max_retries',
  'retry_delay',
  'exit_on_error',
  'shell',
  'batch',
  'slurm',
  'gpus per task',
  'launch_distribution',
];

const load = (file: string): ParsedStudy => parseStudy(readFileSync(file, 'utf8'), { file });
const expand = (parsed: ParsedStudy): ExpandedStudy =>
  expandStudy(parsed.study, { root: '/out/merlin_demo', specRoot: fixtures, cwd: '/home/u' });

function withoutMerlinKeys(run: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(run).filter(([k]) => !MERLIN_RUN_KEYS.includes(k)));
}

/** Every instance as the conductor sees it: who, where, after what, running what. */
function instancesOf(x: ExpandedStudy): Record<string, unknown>[] {
  return Array.from({ length: x.instanceCount }, (_, i) => {
    const inst = x.instance(i);
    return {
      name: inst.name,
      step: inst.step,
      workspace: inst.workspace,
      fileName: inst.fileName,
      params: inst.params,
      depends: x.parentsOf(i).map((p) => x.instanceName(p)),
      cmd: inst.cmd,
      restart: inst.restart,
      run: withoutMerlinKeys(inst.run),
    };
  });
}

/** Every step: its parameters and its one-to-one and funnel parents, by name. */
function stepsOf(x: ExpandedStudy): Record<string, unknown>[] {
  return x.steps.map((s) => ({
    name: s.name,
    usedParameters: s.usedParameters,
    parents: s.parents.map((p) => x.steps[p]!.name),
    funnelParents: s.funnelParents.map((p) => x.steps[p]!.name),
    dir: s.dir,
  }));
}

describe('a Merlin spec', () => {
  it('is accepted without warnings, its merlin: block kept as written', () => {
    const { study, warnings } = load(MERLIN_FILE);
    expect(warnings).toEqual([]);
    expect(study.merlin).toEqual({
      resources: {
        task_server: 'celery',
        overlap: false,
        workers: {
          simworkers: { args: '-l INFO --concurrency 4', steps: ['sim'], nodes: 1 },
          '$(WORKER_NAME)': { args: '-l INFO --concurrency 3 --prefetch-multiplier 1 -Ofair', steps: ['all'] },
        },
      },
      samples: {
        generate: { cmd: 'python3 $(MAKE_SAMPLES) -n $(N_SAMPLES) -outfile=$(MERLIN_INFO)/samples.npy' },
        file: '$(MERLIN_INFO)/samples.npy',
        column_labels: ['X0', 'X1'],
        level_max_dirs: 25,
      },
    });
  });

  it('takes its steps from aliases and merge keys as PyYAML does', () => {
    const runs = new Map(load(MERLIN_FILE).study.steps.map((s) => [s.name, s.run]));
    // `<<: *hello_run` plus an explicit key.
    expect(runs.get('hello')).toMatchObject({ max_retries: 1, retry_delay: 2.5, task_queue: 'hello_queue' });
    expect(runs.get('hello')!.cmd).toMatch(/^python3 \$\(HELLO\) /);
    // `run: *collect_run`: the whole block is an alias.
    expect(runs.get('collect')).toMatchObject({ depends: ['hello_*'], task_queue: 'collect_queue' });
    // `<<: [*merlin_only, *sim_resources]` with an explicit `procs: 8` over the merged 4.
    expect(runs.get('sim')).toMatchObject({
      task_queue: 'sim_queue',
      max_retries: 3,
      retry_delay: 10,
      exit_on_error: true,
      nodes: 1,
      procs: 8,
      walltime: '00:10:00',
      batch: { type: 'slurm' },
    });
    // `depends: *after_sims`: a list alias.
    expect(runs.get('verify')!.depends).toEqual(['sim_*', 'python3_hello']);
  });

  it('expands to exactly the DAG of the same spec without Merlin keys: names, workspaces, edges, commands', () => {
    const merlin = expand(load(MERLIN_FILE));
    const plain = expand(load(PLAIN_FILE));
    expect(stepsOf(merlin)).toEqual(stepsOf(plain));
    expect(instancesOf(merlin)).toEqual(instancesOf(plain));
    // The fixture exercises parameters, funnels and $(step.workspace), not a trivial chain.
    expect(instancesOf(merlin).map((i) => `${String(i['name'])} <- ${(i['depends'] as string[]).join(' ')}`)).toEqual([
      'hello_X2.0.5 <- ',
      'hello_X2.1.5 <- ',
      'collect_X2.0.5 <- hello_X2.0.5 hello_X2.1.5',
      'collect_X2.1.5 <- hello_X2.0.5 hello_X2.1.5',
      'sim_SIZE.10.X2.0.5 <- collect_X2.0.5',
      'sim_SIZE.20.X2.1.5 <- collect_X2.1.5',
      'python3_hello_X2.0.5 <- ',
      'python3_hello_X2.1.5 <- ',
      'verify_X2.0.5 <- python3_hello_X2.0.5 sim_SIZE.10.X2.0.5 sim_SIZE.20.X2.1.5',
      'verify_X2.1.5 <- python3_hello_X2.1.5 sim_SIZE.10.X2.0.5 sim_SIZE.20.X2.1.5',
    ]);
    expect(merlin.instance(4).cmd).toBe(
      '$(LAUNCHER) ./sim --size 10 --in /out/merlin_demo/collect/X2.0.5/results.json',
    );
  });

  it('keeps its Merlin step keys on the instances, with env tokens substituted', () => {
    const x = expand(load(MERLIN_FILE));
    const runOf = (name: string): Readonly<Record<string, unknown>> => {
      const i = Array.from({ length: x.instanceCount }, (_, k) => k).find((k) => x.instanceName(k) === name)!;
      return x.instance(i).run;
    };
    expect(runOf('verify_X2.0.5')).toMatchObject({ task_queue: 'verify_queue', max_retries: 0 });
    expect(runOf('python3_hello_X2.1.5')).toMatchObject({ shell: '/usr/bin/env python3', task_queue: 'pyth3_q' });
    expect(runOf('sim_SIZE.20.X2.1.5')).toMatchObject({ task_queue: 'sim_queue', slurm: '--exclusive' });
  });

  it('checks the types of Merlin step keys, with a located message', () => {
    const text = readFileSync(MERLIN_FILE, 'utf8').replace('max_retries: 0', 'max_retries: -1');
    let error: unknown;
    try {
      parseStudy(text, { file: MERLIN_FILE });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SpecError);
    const [p] = (error as SpecError).problems;
    expect(p).toMatchObject({ code: SpecErrorCode.InvalidValue, path: 'study[4].run.max_retries' });
    expect((error as SpecError).message).toContain(
      `${MERLIN_FILE}:${p!.line}:${p!.col}: study[4].run.max_retries: got the integer -1; a whole number of retries`,
    );
    const line = readFileSync(MERLIN_FILE, 'utf8').split('\n')[p!.line! - 1];
    expect(line).toMatch(/^\s+max_retries: 0$/);
  });
});
