/** `maestro run SPEC`: create the study root and run the study (`--dry`: write scripts only). */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeHours, resolveDependencies, usesMerlinReturnCodes } from '@maestro/spec';
import { dashboardAfterRun, dashboardSettingsFor } from './dashboard.js';
import { cloneGitDependencies, refText } from '../study/dependencies.js';
import { loadStudy, type LoadedStudy } from '../study/load.js';
import { prepareMerlinInfo } from '../study/merlin-info.js';
import { formatCount } from '../status/count.js';
import { printWarnings } from './print-problems.js';
import { formatNodeHours } from './node-hours.js';
import { withoutPassword } from '@maestro/secrets';
import { checkRedisForNewStudy, fleetRoom, redisForNewStudy, targetOf, type RedisChoice } from '../study/session.js';
import { metaDir } from '../study/meta.js';
import { studyQueues } from '../study/shape.js';
import { LocalWorkers, startEarlyWorkers } from '../run/local-workers.js';
import { createStudyRoot } from '../study/root.js';
import { Terminal } from '../run/terminal.js';
import { writeDryRun, writeStudySkeleton } from '../study/write.js';
import { autoscaleArgs, autoscaleConfig, resolveAutoscale, type AutoscaleFlags } from './autoscale.js';
import {
  DEFAULT_REDIS_TIMEOUT_MS,
  localWorkerPlan,
  quarantineSettings,
  type ExecutionFlags,
  type SpecOptions,
} from './common.js';
import { keyPrefixOf, redisChoice, type RedisFlags } from './redis-options.js';
import { printFinalStatus } from './status.js';
import { workerRedis } from './workers.js';

export interface RunOptions extends SpecOptions, ExecutionFlags, RedisFlags, AutoscaleFlags {
  dry?: boolean;
  yes?: boolean;
  no?: boolean;
  detach?: boolean;
}

/** `early`: the local workers main.ts started before this module loaded (startEarlyWorkers). */
export async function runCommand(
  spec: string,
  options: RunOptions,
  out: Writable,
  err: Writable,
  early: LocalWorkers | undefined = startEarlyWorkers(options),
): Promise<number> {
  // Until conduct() owns them, the early workers are given up on any failure: never told their
  // Redis, they would keep this process waiting for their pipes.
  let handedOver = false;
  try {
    const now = new Date();
    const dashboard = dashboardSettingsFor(options); // a bad MAESTRO_DASHBOARD_AUTH stops us before any folder exists
    const cwd = process.cwd();
    const choice = redisChoice(options);
    const prefix = keyPrefixOf(options.prefix ?? 'maestro', choice.url);
    return await runWithWorkers(spec, options, { now, dashboard, cwd, choice, prefix, early }, out, err, () => {
      handedOver = true;
    });
  } finally {
    if (!handedOver) early?.abandon();
  }
}

function startLocalWorkers(options: RunOptions, count: number): LocalWorkers {
  const workers = new LocalWorkers({
    count,
    concurrency: options.workerConcurrency ?? 1,
    extraArgs: options.workerArg,
  });
  workers.start();
  return workers;
}

interface EarlyContext {
  readonly now: Date;
  readonly dashboard: ReturnType<typeof dashboardSettingsFor>;
  readonly cwd: string;
  readonly choice: RedisChoice;
  readonly prefix: string;
  readonly early: LocalWorkers | undefined;
}

async function runWithWorkers(
  spec: string,
  options: RunOptions,
  e: EarlyContext,
  out: Writable,
  err: Writable,
  onHandOver: () => void,
): Promise<number> {
  const { now, dashboard, cwd, choice, prefix } = e;
  // Its Redis is checked while the spec loads (no wait added), and before any folder exists: a
  // missing redis-server, an unreachable server or a wrong password leaves nothing behind.
  const redisChecked = options.dry ? Promise.resolve(undefined) : settled(checkRedisForNewStudy(choice));
  const loaded = await loadStudy({
    specPath: spec,
    out: options.out,
    pgen: options.pgen,
    pargs: options.pargs,
    pgenTimeoutMs: options.pgenTimeout,
    hashWorkspaces: options.hashws,
    workspaceFanout: options.workspaceFanout,
    maxInstances: options.maxInstances,
    cwd,
    now,
    everyLayer: true, // every problem, missing paths included, before the study folder exists
  });
  printWarnings(loaded.warnings, (l) => err.write(`${l}\n`));
  // Autoscale options, and steps too large for its allocations, are refused before anything exists.
  const autoscale = await resolveAutoscale(options, loaded, prefix, err);
  if (autoscale && choice.url) workerRedis(targetOf({ ...choice, url: choice.url }));
  const redisProblem = await redisChecked;
  if (redisProblem) throw redisProblem;
  const created = await createStudyRoot(loaded.expanded.root, {
    explicit: options.out !== undefined,
    yes: options.yes,
    no: options.no,
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
  });
  // Until the conductor has written the study into Redis, a failure takes back everything this
  // run wrote: a study that never started is not one `maestro resume` could continue.
  let started = false;
  try {
    return await runInRoot(
      spec,
      options,
      { loaded, root: created.path, now, cwd, choice, prefix, autoscale, dashboard, early: e.early, onHandOver },
      out,
      err,
      () => (started = true),
    );
  } catch (error) {
    if (!started) await created.undo().catch(() => undefined);
    throw error;
  }
}

interface RunContext {
  readonly loaded: LoadedStudy;
  readonly root: string;
  readonly now: Date;
  readonly cwd: string;
  readonly choice: RedisChoice;
  readonly prefix: string;
  readonly autoscale: Awaited<ReturnType<typeof resolveAutoscale>>;
  readonly dashboard: ReturnType<typeof dashboardSettingsFor>;
  /** Workers started before the spec was read, and what to call once they are given their Redis. */
  readonly early: LocalWorkers | undefined;
  readonly onHandOver: () => void;
}

/** The run once its root exists: write the study, then run it (or detach, or stop at a dry run). */
async function runInRoot(
  spec: string,
  options: RunOptions,
  c: RunContext,
  out: Writable,
  err: Writable,
  onStarted: () => void,
): Promise<number> {
  const { loaded, root, now, cwd, choice, prefix, autoscale, dashboard } = c;
  // Merlin: merlin_info/ with its samples, generated once, before any step (dry runs too).
  const merlin = loaded.study.merlin !== undefined;
  if (merlin) {
    await prepareMerlinInfo(loaded.study, {
      root,
      specRoot: loaded.expanded.specRoot,
      cwd,
      now,
      specFile: loaded.specFile,
    });
  }
  // A clash moved the root, or samples now exist: expand again so every $(OUTPUT_PATH),
  // workspace and sample step is final.
  const final =
    root === loaded.expanded.root && !merlin
      ? loaded
      : await loadStudy({
          specPath: spec,
          out: root,
          savedParameters: loaded.generatedParameters,
          hashWorkspaces: options.hashws,
          workspaceFanout: options.workspaceFanout,
          maxInstances: options.maxInstances,
          cwd,
          now,
          requireSamples: true,
        });
  // After the root exists (a dependency's path is often $(OUTPUT_PATH)), before the study is
  // written: a clone that fails leaves no study that `maestro resume` could start without it.
  const deps = resolveDependencies(final.study, { root, specRoot: final.expanded.specRoot, cwd }).git;
  if (!options.dry) {
    await cloneGitDependencies(deps, {
      cwd,
      interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
      progress: (line) => err.write(`${line}\n`),
    });
  }
  const meta = await writeStudySkeleton({
    loaded: final,
    root,
    dryRun: options.dry === true,
    pgen: options.pgen ? path.resolve(cwd, options.pgen) : undefined,
    pargs: options.pargs,
    maxInstances: options.maxInstances,
    now,
    cwd,
    redis: options.dry
      ? undefined
      : choice.url
        ? { mode: 'external', url: withoutPassword(choice.url) }
        : { mode: 'embedded' },
    prefix,
  });
  if (options.dry) {
    await writeDryRun(final.expanded, root);
    for (const d of deps) {
      err.write(
        `note: dry run: git dependency ${d.name} (${d.url}${refText(d)}) was not cloned; a run without --dry clones it into ${d.dest} before any step starts\n`,
      );
    }
    out.write(`Dry run: ${formatCount(final.expanded.instanceCount, 'step instance')} written to ${root}\n`);
    for (const line of formatNodeHours(nodeHours(final.expanded))) out.write(`${line}\n`);
    onStarted();
    return 0;
  }
  if (options.detach) {
    const pid = detachConductor(root, options);
    onStarted();
    out.write(`Study launched in the background (conductor pid ${pid}): ${root}\n`);
    out.write(`Follow it with: maestro status ${root}\n`);
    if (dashboard && dashboard.port !== 0) out.write(`Dashboard: http://${dashboard.host}:${dashboard.port}/\n`);
    return 0;
  }
  err.write(`Study ${meta.name}: ${formatCount(final.expanded.instanceCount, 'step instance')} in ${root}\n`);
  const redis = await redisForNewStudy(root, choice);
  const plan = localWorkerPlan(options, final.expanded, autoscale !== undefined);
  // Asked while the workers connect, not before: the check must not delay a small study's first
  // step. A fleet Redis has no room for is refused one worker at a time, so it is said up front.
  const fleetSize =
    plan.processes +
    Math.min(plan.home, 1) +
    (autoscale ?? []).reduce((n, a) => n + a.maxAllocations * a.settings.nodes, 0);
  const roomCheck = fleetRoom(redis, fleetSize).catch(() => undefined);
  const workers = plan.processes > 0 ? (c.early ?? startLocalWorkers(options, plan.processes)) : undefined;
  workers?.grow(plan.processes);
  const logDir = path.join(metaDir(root), 'logs');
  workers?.connect({ redis: redis.target, prefix, queues: studyQueues(final.expanded.steps), logDir });
  if (workers) c.onHandOver(); // from here on, conduct() (or the catch below) stops them
  // The conductor's modules (BullMQ and the rest) load while the workers start.
  const { conduct, DEFAULT_BUNDLE, DEFAULT_WINDOW, EXIT_CODES } = await import('../run/conduct.js').catch(
    async (error: unknown) => {
      await workers?.stop();
      throw error;
    },
  );
  const noRoom = await roomCheck;
  if (noRoom) err.write(`Warning: ${noRoom}\n`);
  const afterRun = dashboardAfterRun(options, err);
  const state = await conduct({
    meta,
    expanded: final.expanded,
    merlinReturnCodes: usesMerlinReturnCodes(final.study),
    redis,
    limits: { attempts: options.attempts, rlimit: options.rlimit, throttle: options.throttle, budget: options.budget },
    window: options.window ?? DEFAULT_WINDOW,
    bundle: options.bundle ?? DEFAULT_BUNDLE,
    workers,
    homeWorker: plan.home > 0 ? { concurrency: plan.home } : undefined,
    cancelGraceMs: options.cancelGrace ?? 30_000,
    quarantine: quarantineSettings(options),
    redisTimeoutMs: options.redisTimeout ?? DEFAULT_REDIS_TIMEOUT_MS,
    terminal: new Terminal(process.stderr),
    dashboard,
    keepDashboard: afterRun.keep,
    autoscale: autoscale && autoscaleConfig(autoscale, redis.target, { root, id: meta.id, prefix }, err),
    onStarted,
  });
  await printFinalStatus(root, state, out);
  await afterRun.serve();
  return EXIT_CODES[state];
}

/** The promise's error as a value (undefined if it resolved): awaited later, never unhandled. */
function settled(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** Starts `maestro resume ROOT` in the background, its output in meta/conductor.out. */
function detachConductor(root: string, o: RunOptions): number {
  // The bin (two folders up from dist/cli and dist/bundle alike): the bundle, and its V8 settings.
  const bin = fileURLToPath(new URL('../../bin/maestro.js', import.meta.url));
  const args = [bin, 'resume', root];
  const flag = (name: string, v: number | string | undefined): void => {
    if (v !== undefined) args.push(name, String(v));
  };
  flag('--attempts', o.attempts);
  flag('--rlimit', o.rlimit);
  flag('--throttle', o.throttle);
  flag('--budget', o.budget);
  flag('--quarantine-min-failures', o.quarantineMinFailures);
  flag('--quarantine-ratio', o.quarantineRatio);
  flag('--local-workers', o.localWorkers);
  flag('--worker-concurrency', o.workerConcurrency);
  flag('--window', o.window);
  flag('--bundle', o.bundle);
  flag('--dashboard', o.dashboard);
  flag('--cancel-grace', o.cancelGrace === undefined ? undefined : `${o.cancelGrace}ms`);
  flag('--redis-timeout', o.redisTimeout === undefined ? undefined : `${o.redisTimeout}ms`);
  flag('--redis-password-file', o.redisPasswordFile);
  flag('--tls-ca-file', o.tlsCaFile);
  for (const a of o.workerArg ?? []) flag('--worker-arg', a);
  args.push(...autoscaleArgs(o));
  const env = { ...process.env };
  if (o.redis) env['MAESTRO_REDIS_URL'] = o.redis; // the environment, not argv: `ps` shows argv
  const fd = openSync(path.join(metaDir(root), 'conductor.out'), 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  child.unref();
  return child.pid ?? 0;
}
