/** Options and environment -> configuration: defaults, every problem at once, no password leaks. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig, parseDurationMs, redactUrl, WorkerErrorCode } from '../src/index.js';

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) {
      expect(err.code).toBe(WorkerErrorCode.ConfigInvalid);
      return err.problems;
    }
    throw err;
  }
  throw new Error('accepted');
}

describe('loadConfig', () => {
  it('fills every default from one schema', () => {
    const config = loadConfig({}, { MAESTRO_REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'maestro',
      queues: ['steps'],
      concurrency: availableParallelism(),
      shutdownGraceMs: 30_000,
      idleTimeoutMs: undefined,
      name: `${hostname()}.${process.pid}`,
      simulate: false,
      simulateStepMs: 0,
      logLevel: 'info',
      scheduler: 'local',
      lockDurationMs: 10_000,
      stalledIntervalMs: 5_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads flags before the environment, and the allocation from Slurm or Flux', () => {
    const config = loadConfig(
      {
        redis: 'rediss://u@h:1/2',
        queues: 'a, b',
        concurrency: '3',
        idleTimeout: '5m',
        shutdownGrace: '1h',
        name: 'w1',
      },
      { MAESTRO_REDIS_URL: 'redis://other', SLURM_JOB_ID: '1234' },
    );
    expect(config).toMatchObject({
      redisUrl: 'rediss://u@h:1/2',
      queues: ['a', 'b'],
      concurrency: 3,
      idleTimeoutMs: 300_000,
      shutdownGraceMs: 3_600_000,
      name: 'w1',
      allocationId: '1234',
      scheduler: 'slurm',
    });
    expect(loadConfig({ redis: 'redis://h' }, { FLUX_JOB_ID: 'fABC' })).toMatchObject({
      allocationId: 'fABC',
      scheduler: 'flux',
    });
  });

  it('takes the cores, GPUs and allocation a batch script of maestro workers launch gives', () => {
    const inSlurm = {
      MAESTRO_REDIS_URL: 'redis://h',
      SLURM_JOB_ID: '42',
      SLURM_JOB_NUM_NODES: '3',
      SLURM_CPUS_ON_NODE: '36',
      SLURMD_NODENAME: 'node7',
      MAESTRO_WORKERS_PER_NODE: '2',
      MAESTRO_QUEUES: 'sim,post',
      MAESTRO_PREFIX: 'lab',
      MAESTRO_IDLE_TIMEOUT: '2m',
      MAESTRO_PREEMPT_MARGIN: '5m',
      CUDA_VISIBLE_DEVICES: '2,3',
    };
    expect(loadConfig({}, inSlurm)).toMatchObject({
      scheduler: 'slurm',
      allocationId: '42',
      nodes: 3,
      node: 'node7',
      host: 'node7',
      name: `node7.${process.pid}`,
      cores: 18,
      concurrency: 18,
      gpuIds: ['2', '3'],
      queues: ['sim', 'post'],
      prefix: 'lab',
      idleTimeoutMs: 120_000,
      preemptMarginMs: 300_000,
    });
    // Flags win over the environment; a GPU count numbers the devices from 0.
    expect(loadConfig({ cores: '4', gpus: '2', concurrency: '1' }, inSlurm)).toMatchObject({
      cores: 4,
      gpuIds: ['0', '1'],
      concurrency: 1,
    });
    // Inside flux batch, FLUX_JOB_ID is the worker's own job: the script names the allocation.
    const inFlux = {
      MAESTRO_SCHEDULER: 'flux',
      MAESTRO_ALLOCATION_ID: 'f2abc',
      FLUX_JOB_ID: 'f9xyz',
      MAESTRO_NODES: '2',
    };
    expect(loadConfig({ redis: 'redis://h' }, inFlux)).toMatchObject({
      scheduler: 'flux',
      allocationId: 'f2abc',
      nodes: 2,
    });
    expect(loadConfig({ redis: 'redis://h' }, { MAESTRO_ALLOCATION_ENDS_AT: '1700000000000' })).toMatchObject({
      scheduler: 'local',
      allocationEndsAtMs: 1_700_000_000_000,
    });
  });

  it('inside Flux, takes what Flux says where no variable says it, and keeps ids in one form', () => {
    // flux exec'd from a batch script: no FLUX_JOB_ID, no CPU count; Flux said both.
    const exec = { MAESTRO_REDIS_URL: 'redis://h', MAESTRO_SCHEDULER: 'flux', MAESTRO_WORKERS_PER_NODE: '2' };
    expect(loadConfig({}, exec, { allocationId: 'ƒ4Fh9bJX', cores: 8, gpus: 2 })).toMatchObject({
      scheduler: 'flux',
      allocationId: 'f4Fh9bJX',
      cores: 4,
      gpuIds: ['0', '1'],
    });
    // The script's MAESTRO_ALLOCATION_ID first; FLUX_JOB_ID (the worker's own job) last.
    expect(loadConfig({}, { ...exec, MAESTRO_ALLOCATION_ID: 'ƒ2abc' }, { allocationId: 'f9xyz' }).allocationId).toBe(
      'f2abc',
    );
    expect(loadConfig({}, { ...exec, FLUX_JOB_ID: 'ƒ9xyz' }).allocationId).toBe('f9xyz');
    // Flux's CUDA_VISIBLE_DEVICES=-1 says a job has no GPU.
    expect(loadConfig({}, { ...exec, CUDA_VISIBLE_DEVICES: '-1' }, { gpus: 0 }).gpuIds).toEqual([]);
  });

  it('reads the password from a file, without its final newline', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'maestro-config-')), 'pw');
    writeFileSync(file, 's3cret\n');
    expect(loadConfig({ redis: 'redis://h' }, { MAESTRO_REDIS_PASSWORD_FILE: file }).redisPassword).toBe('s3cret');
    expect(loadConfig({ redis: 'redis://h', redisPasswordFile: file }, {}).redisPassword).toBe('s3cret');
  });

  it('reports every problem at once, by flag, never showing the password', () => {
    const problems = problemsOf(() =>
      loadConfig(
        {
          redis: 'http://user:hunter2@h',
          redisPasswordFile: '/no/such/file',
          prefix: 'a:b',
          queues: 'ok,bad:name',
          concurrency: '0',
          idleTimeout: 'soon',
          shutdownGrace: '-1s',
          logLevel: 'loud',
        },
        {},
      ),
    );
    expect(problems).toEqual([
      '--redis-password-file: cannot read /no/such/file: ENOENT (no such file or directory)',
      "--redis: 'http://user:***@h' is not a Redis URL: unknown scheme 'http://'; use one of redis://[user:pw@]host:port[/db], rediss://..., redis+unix:///path/to/sock, redis+sentinel://[user:pw@]host:port[,host:port...]/MASTER_NAME (rediss+sentinel:// for TLS), redis+cluster://[user:pw@]host:port[,host:port...] (rediss+cluster:// for TLS)",
      '--prefix: must not be empty or contain ":" or spaces',
      '--queues[1]: queue names are letters, digits, ".", "_" and "-"',
      '--concurrency: must be a positive integer',
      "--idle-timeout: must be a duration such as 30s, 5m or 1h, got 'soon'",
      "--shutdown-grace: must be a duration such as 30s, 5m or 1h, got '-1s'",
      '--log-level: must be one of fatal, error, warn, info, debug, trace, silent',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('takes the launcher from MAESTRO_LAUNCHER, and names the allowed values for a wrong one', () => {
    expect(loadConfig({ redis: 'redis://h' }, {}).launcher).toBe('auto');
    expect(loadConfig({ redis: 'redis://h' }, { MAESTRO_LAUNCHER: 'script' }).launcher).toBe('script');
    expect(problemsOf(() => loadConfig({ redis: 'redis://h' }, { MAESTRO_LAUNCHER: 'bash' }))).toEqual([
      "MAESTRO_LAUNCHER: must be auto, compiled or script, got 'bash'",
    ]);
  });

  it('asks for a Redis URL when there is none', () => {
    expect(problemsOf(() => loadConfig({}, {}))).toEqual([
      '--redis: missing: give --redis URL or set MAESTRO_REDIS_URL',
    ]);
  });

  it('puts the prefix in a hash tag on a cluster, so that every key of the deployment shares one slot', () => {
    expect(loadConfig({ redis: 'redis+cluster://a:7000,b:7001' }, {}).prefix).toBe('{maestro}');
    expect(loadConfig({ redis: 'redis+cluster://a:7000', prefix: 'site{x}' }, {}).prefix).toBe('site{x}');
    expect(loadConfig({ redis: 'redis+sentinel://a:1/m' }, {}).prefix).toBe('maestro');
  });

  it('reads the sentinels password from a file, for a sentinel URL only', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'maestro-cfg-')), 'sentinel-pw');
    writeFileSync(file, 'hush\n');
    expect(loadConfig({ redis: 'redis+sentinel://a:1/m', sentinelPasswordFile: file }, {}).sentinelPassword).toBe(
      'hush',
    );
    expect(() => loadConfig({ redis: 'redis://a:1', sentinelPasswordFile: file }, {})).toThrow(
      '--sentinel-password-file: only used with a redis+sentinel:// URL',
    );
  });

  it('warns about a password on the command line only', () => {
    expect(configWarnings({ redis: 'redis+sentinel://a:1/m?sentinelPassword=pw' })).toHaveLength(1);
    expect(configWarnings({ redis: 'redis://:pw@h' })).toEqual([
      expect.stringMatching(/visible to other users in `ps`/),
    ]);
    expect(configWarnings({ redis: 'redis://h' })).toEqual([]);
  });
});

describe('parseDurationMs and redactUrl', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['45', 45_000],
    ['0', 0],
  ])('%s is %d ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', 'm', '5 minutes', '-1s', '1e3'])('%j is not a duration', (text) =>
    expect(parseDurationMs(text)).toBeUndefined(),
  );

  it('hides passwords in URLs', () => {
    expect(redactUrl('redis://alice:p%40ss@h:6379/1')).toBe('redis://alice:***@h:6379/1');
    expect(redactUrl('rediss://h:6380')).toBe('rediss://h:6380');
    expect(redactUrl('not a url :secret@host')).toBe('not a url :***@host');
  });
});

describe('durations a batch script hands over', () => {
  // The conductor checks --idle-timeout and --preempt-margin with the same grammar and writes
  // them into the batch script as MAESTRO_IDLE_TIMEOUT / MAESTRO_PREEMPT_MARGIN verbatim.
  it.each([
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['90', 90_000],
    ['30 s', 30_000],
  ])('reads %j from the environment as the conductor does', (text, ms) => {
    const config = loadConfig(
      {},
      { MAESTRO_REDIS_URL: 'redis://h', MAESTRO_IDLE_TIMEOUT: text, MAESTRO_PREEMPT_MARGIN: text },
    );
    expect(config.idleTimeoutMs).toBe(ms);
    expect(config.preemptMarginMs).toBe(ms);
  });
});
