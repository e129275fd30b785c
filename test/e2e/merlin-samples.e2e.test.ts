/**
 * Merlin's example workflows with samples, run through `maestro run` as a user types it
 * (test/fixtures/merlin/README.md says where each file comes from): null_spec as published, its
 * generator on numpy; hello_samples, restart_delay and feature_demo with generators of ours that
 * write the same files. Their samples fan sample steps out into Merlin's sample folders, and
 * every sample token is substituted in every command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, signalGroup, startMaestro } from '../helpers/processes.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { readStatus, statesByName, tempDir, waitFor } from '../helpers/study.js';

afterEach(killAll);

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/merlin');

/**
 * PATH with a python3 that has numpy first: the specs call `python3`, and a pyenv python3 ahead
 * of Debian's may lack it. Fails, rather than skips, when there is none (.ci/run installs
 * python3-numpy).
 */
function pathWithNumpy(): string {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/bin'];
  for (const dir of dirs) {
    const py = path.join(dir, 'python3');
    if (!existsSync(py)) continue;
    try {
      execFileSync(py, ['-c', 'import numpy'], { stdio: 'ignore' });
      return [dir, ...dirs].join(':');
    } catch {
      // this python3 has no numpy: try the next
    }
  }
  throw new Error('no python3 with numpy on PATH or in /usr/bin: install python3-numpy');
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: pathWithNumpy() });

interface InstanceJson {
  name: string;
  step: string;
  workspace: string;
  depends: string[];
  cmd: string;
  restart: string | null;
}

/** What the study runs, read back after the run (`expand -o ROOT` reads the generated samples). */
async function expanded(root: string, spec: string, cwd: string): Promise<InstanceJson[]> {
  const r = await maestro(['expand', '--json', '-o', root, spec], { cwd, env: env() });
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { steps: InstanceJson[] }).steps;
}

describe("Merlin's null_spec, as published", () => {
  it('runs one null_step per sample in Merlin sample folders, then the funnel, to FINISHED', async () => {
    const cwd = tempDir();
    const root = path.join(cwd, 'study');
    const spec = path.join(FIXTURES, 'null_spec/null_spec.yaml');
    const r = await maestro(['run', '-o', root, spec], { cwd, env: env(), timeout: 180_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);

    const rows = readStatus(root);
    const samples = Array.from({ length: 10 }, (_, k) => k);
    expect(rows.map((x) => [x.name, x.workspace, x.state]).sort()).toEqual(
      [
        ...samples.map((k) => [`null_step_sample${k}`, `null_step/0${k}`, 'FINISHED']),
        ['verify', 'verify', 'FINISHED'],
      ].sort(),
    );
    const instances = await expanded(root, spec, cwd);
    const verify = instances.find((i) => i.name === 'verify')!;
    expect(verify.depends.sort()).toEqual(samples.map((k) => `null_step_sample${k}`).sort());

    // $(SAMPLE) is each row of the generated .npy, as numpy prints it (Merlin substitutes str()).
    const info = path.join(root, 'merlin_info');
    const printed = execFileSync(
      'python3',
      [
        '-c',
        'import numpy, sys; [print(str(r[0])) for r in numpy.load(sys.argv[1])]',
        path.join(info, 'samples_file.npy'),
      ],
      { env: env(), encoding: 'utf8' },
    )
      .trim()
      .split('\n');
    for (const k of samples) {
      const script = readFileSync(path.join(root, `null_step/0${k}/null_step.sh`), 'utf8');
      expect(script).toContain(`#echo ${printed[k]}\nsleep 1\nexit 0\n`);
    }
    // Merlin's provenance copies, and the generator's script and output.
    expect(readFileSync(path.join(info, 'null_spec.orig.yaml'), 'utf8')).toBe(readFileSync(spec, 'utf8'));
    expect(readFileSync(path.join(info, 'null_spec.partial.yaml'), 'utf8')).toMatch(/QUEUE: queue_s10_c0_r0/);
    expect(readFileSync(path.join(info, 'null_spec.expanded.yaml'), 'utf8')).toContain(
      `file: ${info}/samples_file.npy`,
    );
    expect(readFileSync(path.join(info, 'cmd.sh'), 'utf8')).toContain(`--filepath ${info}/samples_file.npy`);
    expect(existsSync(path.join(info, 'cmd.out')) && existsSync(path.join(info, 'cmd.err'))).toBe(true);
  });
});

describe("Merlin's hello_samples, with a generator of ours", () => {
  it('greets every sample with every parameter value, then runs the python step', async () => {
    const cwd = tempDir();
    const root = path.join(cwd, 'study');
    const r = await maestro(['run', '-o', root, path.join(FIXTURES, 'hello_samples/hello_samples.yaml')], {
      cwd,
      env: env(),
      timeout: 180_000,
    });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const names = readFileSync(path.join(root, 'merlin_info/samples.csv'), 'utf8').split('\n');
    expect(names).toHaveLength(3);
    for (const greet of ['hello', 'hola']) {
      names.forEach((name, k) => {
        const out = readFileSync(path.join(root, `step_1/GREET.${greet}/0${k}/step_1_GREET.${greet}.out`), 'utf8');
        expect(out).toBe(`${greet}, ${name}!\n`);
      });
    }
    expect(readFileSync(path.join(root, 'step_2/step_2.out'), 'utf8')).toBe('Hurrah, we did it!\n');
    expect(readStatus(root).every((x) => x.state === 'FINISHED')).toBe(true);
    expect(readStatus(root)).toHaveLength(7);
    // `expand -o ROOT` after the run reads the generated samples and says so.
    const tree = await maestro(['expand', '-o', root, path.join(FIXTURES, 'hello_samples/hello_samples.yaml')], {
      cwd,
      env: env(),
    });
    expect(tree.stdout).toContain('step_1: 6 instances, over GREET, once per sample (3 samples)\n');
    expect(tree.stdout).toContain(
      `step_1_GREET.hola_sample2  step_1/GREET.hola/02/\n    $ echo "hola, ${names[2]}!"\n`,
    );
  });
});

/** A token of these names still in a command means a substitution was missed. */
const LEFT_OVER = /\$\((?:V1|V2|X0|X1|X2|N_NEW|MERLIN_[A-Z_]+|[\w]+\.workspace)\)/i;

/** `run --dry`: generates the samples and writes every script, running none. */
async function dryRun(spec: string, extraPath = ''): Promise<{ root: string; instances: InstanceJson[] }> {
  const cwd = tempDir();
  const root = path.join(cwd, 'study');
  const e = env();
  if (extraPath) e['PATH'] = `${extraPath}:${e['PATH']}`;
  const r = await maestro(['run', '--dry', '-o', root, spec], { cwd, env: e, timeout: 120_000 });
  expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  const lines = readFileSync(path.join(root, 'meta/expanded.jsonl'), 'utf8').trim().split('\n');
  return { root, instances: lines.map((l) => JSON.parse(l) as InstanceJson) };
}

describe('sample tokens in every command', () => {
  it('restart_delay: one instance per sample of each sample step, V1 and V2 substituted (generator of ours)', async () => {
    const { root, instances } = await dryRun(path.join(FIXTURES, 'restart_delay/restart_delay.yaml'));
    const perStep = (step: string): InstanceJson[] => instances.filter((i) => i.step === step);
    for (const step of ['run_10', 'runs_rt_30', 'runs_rs_1']) {
      expect(perStep(step).map((i) => i.workspace)).toEqual(Array.from({ length: 10 }, (_, k) => `${step}/0${k}`));
      for (const i of perStep(step)) expect(i.depends).toEqual(['build']);
    }
    expect(perStep('data')[0]!.depends).toHaveLength(30);
    for (const i of instances) {
      expect(`${i.cmd}\n${i.restart ?? ''}`).not.toMatch(LEFT_OVER);
    }
    // The V1/V2 values are the rows of the generated samples, in order.
    const npy = path.join(root, 'merlin_info/samples.npy');
    const printed = execFileSync(
      'python3',
      ['-c', 'import numpy, sys; [print(str(a), str(b)) for a, b in numpy.load(sys.argv[1])]', npy],
      { env: env(), encoding: 'utf8' },
    )
      .trim()
      .split('\n');
    perStep('runs_rs_1').forEach((i, k) => expect(i.restart).toContain(`mpi_hello ${printed[k]}\n`));
  });

  it('feature_demo: hello per sample with X0, X1 and MERLIN_SAMPLE_ID; collect globs the sample folders', async () => {
    const { instances } = await dryRun(
      path.join(FIXTURES, 'feature_demo/feature_demo.yaml'),
      path.join(FIXTURES, 'feature_demo/bin'),
    );
    const hello = instances.filter((i) => i.step === 'hello');
    expect(hello.map((i) => i.workspace)).toEqual(Array.from({ length: 10 }, (_, k) => `hello/X2.0.5/0${k}`));
    hello.forEach((i, k) =>
      expect(i.cmd).toMatch(new RegExp(`-outfile hello_world_output_${k}\\.json \\S+ \\S+ 0\\.5\\n`)),
    );
    const collect = instances.find((i) => i.step === 'collect')!;
    expect(collect.cmd).toContain('echo */\n');
    expect(collect.depends).toHaveLength(10);
    for (const i of instances) expect(i.cmd).not.toMatch(LEFT_OVER);
  });

  // Run for real, as far as this machine allows: its ML steps call Merlin's companion `spellbook`
  // (scikit-learn inside) and one step `python2`, neither installable here (no Python registry;
  // Debian 12 has no python2). Everything else must finish, each sample in its own folder.
  it('feature_demo run for real: the sample steps finish; only what needs spellbook ML or python2 fails', async () => {
    const cwd = tempDir();
    const root = path.join(cwd, 'study');
    const bin = path.join(FIXTURES, 'feature_demo/bin');
    const runEnv = { ...env(), PATH: `${bin}:${pathWithNumpy()}` };
    const spec = path.join(FIXTURES, 'feature_demo/feature_demo.yaml');
    const r = await maestro(['run', '-o', root, spec], { cwd, env: runEnv, timeout: 180_000 });
    expect(r.exitCode).not.toBe(0);

    const states = statesByName(root);
    const finished = Object.keys(states).filter((n) => states[n] === 'FINISHED');
    expect(finished.sort()).toEqual(
      [
        ...Array.from({ length: 10 }, (_, k) => `hello_X2.0.5_sample${k}`),
        'make_new_samples_N_NEW.10',
        'python3_hello_X2.0.5',
      ].sort(),
    );
    for (let k = 0; k < 10; k++) {
      const out = path.join(root, `hello/X2.0.5/0${k}/hello_world_output_${k}.json`);
      expect(existsSync(out), out).toBe(true);
    }
    // The two that ran and failed did so for the missing tools, not for anything of ours.
    const err = (ws: string): string => execFileSync('sh', ['-c', `cat ${ws}/*.err`], { encoding: 'utf8' });
    expect(err(path.join(root, 'collect/X2.0.5'))).toContain('spellbook stand-in: only make-samples');
    expect(err(path.join(root, 'python2_hello/X2.0.5'))).toMatch(/python2/);
  });
});

describe('bad samples', () => {
  it('a generator that fails stops the run before any step, with where and why, leaving nothing', async () => {
    const cwd = tempDir();
    const spec = path.join(cwd, 'bad.yaml');
    writeFileSync(
      spec,
      [
        'description: {name: bad, description: failing generator}',
        'study:',
        '  - name: s',
        '    description: per sample',
        '    run: {cmd: echo $(X)}',
        'merlin:',
        '  samples:',
        '    generate:',
        '      cmd: echo no samples for you >&2; exit 3',
        '    file: $(MERLIN_INFO)/samples.csv',
        '    column_labels: [X]',
        '',
      ].join('\n'),
    );
    const root = path.join(cwd, 'study');
    const r = await maestro(['run', '-o', root, spec], { cwd, env: env(), timeout: 60_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.yaml:9:\d+: merlin\.samples\.generate\.cmd: the sample generator exited 3/);
    expect(r.stderr).toContain('no samples for you');
    expect(existsSync(root)).toBe(false);
  });

  it('a samples file of a kind Merlin does not read is refused by validate, naming the kinds it reads', async () => {
    const cwd = tempDir();
    const spec = path.join(cwd, 'kind.yaml');
    writeFileSync(
      spec,
      [
        'description: {name: kind, description: wrong file kind}',
        'study:',
        '  - {name: s, description: per sample, run: {cmd: echo $(X)}}',
        'merlin:',
        '  samples: {file: samples.txt, column_labels: [X]}',
        '',
      ].join('\n'),
    );
    const r = await maestro(['validate', spec], { cwd });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(
      /kind\.yaml:5:\d+: merlin\.samples\.file: '.*samples\.txt' is not a file kind Merlin reads; a file ending in \.npy, \.csv, \.tab/,
    );
  });

  it('a samples file whose columns do not match column_labels is refused, naming both counts', async () => {
    const cwd = tempDir();
    const spec = path.join(cwd, 'cols.yaml');
    writeFileSync(
      spec,
      [
        'description: {name: cols, description: wrong columns}',
        'study:',
        '  - name: s',
        '    description: per sample',
        '    run: {cmd: echo $(X)}',
        'merlin:',
        '  samples:',
        '    generate: {cmd: \'printf "1,2\\n3,4\\n" > samples.csv\'}',
        '    file: samples.csv',
        '    column_labels: [X]',
        '',
      ].join('\n'),
    );
    const root = path.join(cwd, 'study');
    const r = await maestro(['run', '-o', root, spec], { cwd, env: env(), timeout: 60_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(
      /cols\.yaml:10:\d+: merlin\.samples\.column_labels: the samples file has 2 column\(s\), column_labels names 1/,
    );
  });
});

describe('a sample study stopped and resumed', () => {
  it('generates its samples once, and resume runs the same samples in the same folders', async () => {
    const cwd = tempDir();
    const spec = path.join(cwd, 'held.yaml');
    writeFileSync(
      spec,
      [
        'description: {name: held, description: samples held until the test lets them end}',
        'study:',
        '  - name: s',
        '    description: per sample, held',
        "    run: {cmd: 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done; echo $(X) > x.txt'}",
        '  - name: all',
        '    description: after every sample',
        "    run: {cmd: 'cat $(s.workspace)/$(MERLIN_GLOB_PATH)x.txt > all.txt', depends: [s]}",
        'merlin:',
        '  samples:',
        '    generate: {cmd: \'echo ran >> $(SPECROOT)/generated; printf "a\\nb\\nc\\n" > samples.tab\'}',
        '    file: samples.tab',
        '    column_labels: [X]',
        '',
      ].join('\n'),
    );
    const root = path.join(cwd, 'study');
    const run = startMaestro(['run', '-o', root, '--local-workers', '1', '--worker-concurrency', '3', spec], {
      cwd,
      detached: true,
    });
    await waitFor(
      () => {
        try {
          const s = statesByName(root);
          return ['s_sample0', 's_sample1', 's_sample2'].every((n) => s[n] === 'RUNNING');
        } catch {
          return false;
        }
      },
      60_000,
      'the three samples to run',
    );
    signalGroup(run.pid!, 'SIGINT');
    expect((await run).exitCode).toBe(130);
    writeFileSync(path.join(cwd, 'go'), '');
    const resumed = await maestro(['resume', root, '--local-workers', '1', '--worker-concurrency', '3'], {
      cwd,
      timeout: 120_000,
    });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(readFileSync(path.join(cwd, 'generated'), 'utf8')).toBe('ran\n');
    expect(['00', '01', '02'].map((d) => readFileSync(path.join(root, 's', d, 'x.txt'), 'utf8'))).toEqual([
      'a\n',
      'b\n',
      'c\n',
    ]);
    expect(readFileSync(path.join(root, 'all/all.txt'), 'utf8')).toBe('a\nb\nc\n');
  });
});
