/**
 * `maestro workers launch | list | stop | release`: allocations of workers by hand.
 *
 * - launch: renders deploy/<scheduler>/ into a batch script in the study root (`workers/`),
 *   submits it and records the allocation in Redis; refuses, before submitting anything, an
 *   allocation whose nodes are too small for a step of the study.
 * - list: every allocation maestro submitted and every live worker of the deployment; with
 *   --study, the hosts that study quarantined (bad-node quarantine) and the evidence.
 * - release: ends the quarantine of a host.
 * - stop: drains (running steps finish, then the workers exit and the allocations end), or with
 *   --now cancels the allocations (`scancel`, `flux cancel`).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import {
  CONTROL_FIELD,
  controlKey,
  leaseKey,
  StudyRecordField,
  studyKey,
  canonicalAllocationId,
  formatWalltime,
  parseQuarantines,
  type QuarantineEvidence,
  type AllocationRecord,
  type SchedulerName,
  type WorkerRecord,
} from '@maestro/protocol';
import { AllocationError, AllocationErrorCode } from '../allocations/errors.js';
import {
  checkStudyFits,
  prepareLaunch,
  probeNodes,
  studyDemandGroups,
  submitLaunch,
  type LaunchTarget,
} from '../allocations/launch.js';
import { schedulerClient, type AllocationState } from '../allocations/schedulers.js';
import { resolveWorkerGroup, type WorkerGroup } from '../allocations/worker-groups.js';
import { redactUrl, urlPassword, urlSecrets, withoutPassword } from '@maestro/secrets';
import { connectRedis, type Redis, type RedisTarget } from '../redis/connection.js';
import { FleetStore } from '../redis/fleet-store.js';
import { redisForStudy, openStudy, targetOf } from '../study/session.js';
import type { StudyMeta } from '../study/meta.js';
import { reloadStudy } from '../study/reload.js';
import { addAllocationOptions, resolveAllocationSettings, type AllocationFlags } from './allocation-options.js';
import { keyPrefixOf, redisChoice, type RedisFlags } from './redis-options.js';
import { formatCount } from '../status/count.js';

export { addAllocationOptions };

export interface FleetFlags extends RedisFlags {
  study?: string;
  prefix?: string;
}

/** The deployment the command acts on: a study's Redis and prefix, or --redis and --prefix. */
interface Deployment {
  readonly target: RedisTarget;
  readonly prefix: string;
  readonly meta: StudyMeta | undefined;
}

async function deployment(flags: FleetFlags): Promise<Deployment> {
  const choice = redisChoice(flags);
  if (flags.study) {
    const meta = await openStudy(flags.study);
    // A dry-run study has no Redis yet: the one given is the one it will use.
    if (meta.redis?.mode === 'external' || (meta.redis === undefined && choice.url)) {
      // The stored URL has no password: it comes from --redis again or from a password file.
      const url = (choice.url ?? (meta.redis?.mode === 'external' ? meta.redis.url : undefined))!;
      return {
        target: targetOf({ ...choice, url }),
        prefix: flags.prefix === undefined ? meta.prefix : keyPrefixOf(flags.prefix, url),
        meta,
      };
    }
    const opened = await redisForStudy(meta, choice, false);
    return { target: opened.target, prefix: flags.prefix ?? meta.prefix, meta };
  }
  if (!choice.url) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      'give --study STUDY_DIR, or --redis URL (or MAESTRO_REDIS_URL)',
    );
  }
  return {
    target: targetOf({ ...choice, url: choice.url }),
    prefix: keyPrefixOf(flags.prefix ?? 'maestro', choice.url),
    meta: undefined,
  };
}

async function withFleet<T>(d: Deployment, use: (fleet: FleetStore, redis: Redis) => Promise<T>): Promise<T> {
  const redis = await connectRedis(d.target, 'command');
  try {
    return await use(new FleetStore(redis, d.prefix), redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * What the workers get: the URL without a password, and the password only as a file that nobody
 * else can read (a batch script is read by the scheduler, its admins, and often the project).
 */
export function workerRedis(
  target: RedisTarget,
): Pick<LaunchTarget, 'redisUrl' | 'passwordFile' | 'sentinelPasswordFile' | 'tlsCaFile'> {
  const passwordFile = target.passwordFile ? path.resolve(target.passwordFile) : undefined;
  const sentinelPasswordFile = target.sentinelPasswordFile ? path.resolve(target.sentinelPasswordFile) : undefined;
  if (urlSecrets(target.url).length > (urlPassword(target.url) === undefined ? 0 : 1) && !sentinelPasswordFile) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      "the Redis URL holds the sentinels' password (sentinelPassword=), which batch scripts must never carry: put it in a file only you can read (chmod 600) and give --sentinel-password-file FILE",
    );
  }
  if (urlPassword(target.url) !== undefined && !passwordFile) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      'the Redis URL holds a password, which batch scripts must never carry: put it in a file only you can read (chmod 600) and give --redis-password-file FILE',
    );
  }
  if (passwordFile) {
    let mode: number;
    try {
      mode = statSync(passwordFile).mode;
    } catch (err) {
      throw new AllocationError(
        AllocationErrorCode.Invalid,
        `--redis-password-file: cannot read ${passwordFile}: ${(err as Error).message}`,
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new AllocationError(
        AllocationErrorCode.Invalid,
        `--redis-password-file: ${passwordFile} can be read by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${passwordFile}`,
      );
    }
  }
  return {
    redisUrl: withoutPassword(target.url),
    passwordFile,
    sentinelPasswordFile,
    tlsCaFile: target.tlsCaFile ? path.resolve(target.tlsCaFile) : undefined,
  };
}

/** Said once wherever workers are sent off this machine with a Redis only this machine reaches. */
export function unixSocketWarning(url: string, scheduler: SchedulerName): string | undefined {
  if (scheduler === 'local' || !/^(redis\+)?unix:/.test(url)) return undefined;
  return `warning: the study's Redis listens on a unix socket of this host (${redactUrl(url)}): only workers on this host can reach it. On a cluster, run the study with --redis URL (docs/cluster.md).`;
}

// ---- launch ----------------------------------------------------------------------------------

export interface LaunchFlags extends FleetFlags, AllocationFlags {
  out?: string;
  dry?: boolean;
  /** A Merlin worker group of the study's spec. */
  group?: string;
}

export async function workersLaunchCommand(flags: LaunchFlags, out: Writable, err: Writable): Promise<number> {
  const d = await deployment(flags);
  const loaded = d.meta ? await reloadStudy(d.meta) : undefined;
  const group = flags.group === undefined ? undefined : launchGroup(flags, loaded);
  const queues = group ? group.queues : loaded ? studyQueues(loaded.expanded) : ['steps'];
  const settings = resolveAllocationSettings(group ? groupFlags(flags, group) : flags, {
    batch: group ? group.batch : loaded?.study.batch.settings,
    queues,
    prefix: d.prefix,
    studyName: d.meta?.name,
  });
  const client = schedulerClient(settings.scheduler);
  const redis = workerRedis(d.target);
  const warning = unixSocketWarning(redis.redisUrl, settings.scheduler);
  if (warning) err.write(`${warning}\n`);

  // Steps that can never run on these nodes: refused before anything is submitted.
  const nodes = await probeNodes(settings, client, (reason) =>
    err.write(
      `warning: cannot ask ${settings.scheduler} how large its nodes are (${reason}); steps are not checked against them\n`,
    ),
  );
  if (loaded) {
    const { refused, warnings } = checkStudyFits(
      studyDemandGroups(loaded.expanded),
      { ...settings, gpusPerNode: nodes.gpusPerNode },
      nodes.coresPerNode,
    );
    for (const w of warnings) err.write(`warning: ${w}\n`);
    if (refused.length > 0) {
      throw new AllocationError(
        AllocationErrorCode.TooSmall,
        `nothing submitted: steps of the study can never run in this allocation:\n  ${refused.join('\n  ')}`,
      );
    }
  }

  const dir = path.resolve(flags.out ?? (d.meta ? path.join(d.meta.root, 'workers') : 'maestro-workers'));
  const target: LaunchTarget = { ...redis, prefix: d.prefix, dir, origin: 'launch', studyId: d.meta?.id };
  const prepared = await prepareLaunch(settings, target, new Date());
  if (flags.dry) {
    out.write(prepared.script);
    out.write(`\n# dry run: nothing written or submitted; this would write ${prepared.scriptPath} and run:\n`);
    out.write(`#   ${[prepared.command.file, ...prepared.command.args].join(' ')}\n`);
    return 0;
  }
  const record = await withFleet(d, (fleet) => submitLaunch(prepared, client, fleet, Date.now()));
  out.write(
    `Submitted ${record.scheduler} allocation ${record.id}: ${formatCount(record.nodes, 'node')}` +
      `${record.walltimeSeconds ? `, ${formatWalltime(record.walltimeSeconds)}` : ''}, queues ${record.queues.join(',')}${group ? ` (worker group ${group.name})` : ''}\n` +
      `  script: ${record.script}\n` +
      `  follow it with: maestro workers list ${d.meta ? `--study ${d.meta.root}` : `--prefix ${d.prefix}`}\n`,
  );
  return 0;
}

/** Worker group `flags.group` of the study's spec; refuses --queues beside it, and no --study. */
function launchGroup(flags: LaunchFlags, loaded: Awaited<ReturnType<typeof reloadStudy>> | undefined): WorkerGroup {
  if (!loaded) throw new AllocationError(AllocationErrorCode.Invalid, '--group: give --study STUDY_DIR too');
  if (flags.queues !== undefined)
    throw new AllocationError(AllocationErrorCode.Invalid, "--queues: not with --group, which takes its steps' queues");
  return resolveWorkerGroup(loaded.study, loaded.expanded, flags.group!);
}

/** The group's nodes and concurrency where the command line gives none. */
const groupFlags = (flags: LaunchFlags, g: WorkerGroup): LaunchFlags => ({
  ...flags,
  nodes: flags.nodes ?? g.nodes,
  concurrency: flags.concurrency ?? g.concurrency,
});

/** The queues a study's steps go to. */
export function studyQueues(x: { steps: readonly { run: Readonly<Record<string, unknown>> }[] }): string[] {
  const queues = new Set<string>(['steps']);
  for (const s of x.steps) if (typeof s.run['task_queue'] === 'string') queues.add(s.run['task_queue']);
  return [...queues];
}

// ---- list ------------------------------------------------------------------------------------

export interface ListFlags extends FleetFlags {
  json?: boolean;
  all?: boolean;
}

/** Ended allocations stay listed this long (or always, with --all). */
const ENDED_SHOWN_MS = 3_600_000;

interface ListedAllocation extends AllocationRecord {
  state: AllocationState | 'unknown';
}

export async function workersListCommand(flags: ListFlags, out: Writable): Promise<number> {
  const d = await deployment(flags);
  const now = Date.now();
  const { allocations, workers, quarantined } = await withFleet(d, async (fleet, redis) => {
    const records = await fleet.allocations();
    const states = await allocationStates(records);
    const listed: ListedAllocation[] = [];
    for (const r of records) {
      const state = r.endedAt !== undefined ? 'ended' : (states.get(r) ?? 'unknown');
      const record = state === 'ended' && r.endedAt === undefined ? await fleet.markEnded(r, now) : r;
      if (state === 'ended' && !flags.all && now - (record.endedAt ?? now) > ENDED_SHOWN_MS) continue;
      listed.push({ ...record, state });
    }
    return { allocations: listed, workers: await fleet.liveWorkers(now), quarantined: await quarantinesOf(d, redis) };
  });
  if (flags.json) {
    out.write(`${JSON.stringify({ allocations, workers, quarantined }, null, 2)}\n`);
    return 0;
  }
  out.write(formatAllocations(allocations, workers, now));
  out.write('\n');
  out.write(formatWorkers(workers, now));
  out.write(formatQuarantines(quarantined, now));
  return 0;
}

// ---- quarantine ------------------------------------------------------------------------------

/** The hosts the study's conductor quarantined (--study), with the evidence; none without a study. */
async function quarantinesOf(d: Deployment, redis: Redis): Promise<QuarantineEvidence[]> {
  if (!d.meta) return [];
  return parseQuarantines((await redis.hget(studyKey(d.prefix, d.meta.id), StudyRecordField.quarantine)) ?? undefined);
}

function formatQuarantines(quarantined: readonly QuarantineEvidence[], now: number): string {
  if (quarantined.length === 0) return '';
  const rows = [['QUARANTINED HOST', 'SINCE', 'FAILED HERE', 'ON STEPS OK ELSEWHERE', 'FAILED ELSEWHERE']];
  for (const q of quarantined) {
    rows.push([
      q.host,
      `${Math.max(0, Math.round((now - q.sinceMs) / 1000))}s ago`,
      `${q.failures} of ${q.runs} runs`,
      String(q.failuresOnStepsOkElsewhere),
      `${q.failuresElsewhere} of ${q.runsElsewhere} runs`,
    ]);
  }
  return `\n${table(rows)}Its workers drain and the study's steps run elsewhere; end it with: maestro workers release HOST --study DIR\n`;
}

/**
 * `maestro workers release HOST --study DIR`: ends a quarantine. A running conductor is asked
 * (its state is the truth); with none, the stored list is rewritten, for the next one to restore.
 */
export async function workersReleaseCommand(host: string, flags: FleetFlags, out: Writable): Promise<number> {
  if (!flags.study) {
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      'workers release: give --study STUDY_DIR (a quarantine belongs to a study)',
    );
  }
  const d = await deployment(flags);
  const meta = d.meta!;
  return withFleet(d, async (_fleet, redis) => {
    const key = studyKey(d.prefix, meta.id);
    const quarantined = await quarantinesOf(d, redis);
    if (!quarantined.some((q) => q.host === host)) {
      const hosts = quarantined.map((q) => q.host).join(', ') || 'none';
      throw new AllocationError(
        AllocationErrorCode.Invalid,
        `workers release: host '${host}' is not quarantined in study ${meta.name}; quarantined hosts: ${hosts}`,
      );
    }
    if (await redis.get(leaseKey(d.prefix, meta.id))) {
      await redis.xadd(controlKey(d.prefix, meta.id), '*', CONTROL_FIELD, JSON.stringify({ type: 'release', host }));
      out.write(`Asked the conductor of ${meta.name} to release ${host}: workers there may take its steps again\n`);
    } else {
      const rest = quarantined.filter((q) => q.host !== host);
      await redis.hset(key, StudyRecordField.quarantine, JSON.stringify(rest));
      out.write(`Released ${host} in ${meta.name} (no conductor is running; the next one starts without it)\n`);
    }
    return 0;
  });
}

/** Each record's state, asked of its scheduler; missing when the scheduler cannot say. */
async function allocationStates(records: readonly AllocationRecord[]): Promise<Map<AllocationRecord, AllocationState>> {
  const out = new Map<AllocationRecord, AllocationState>();
  const open = records.filter((r) => r.endedAt === undefined);
  for (const scheduler of new Set(open.map((r) => r.scheduler))) {
    const mine = open.filter((r) => r.scheduler === scheduler);
    try {
      const states = await schedulerClient(scheduler).states(mine.map((r) => r.id));
      for (const r of mine) out.set(r, states.get(r.id) ?? 'ended');
    } catch {
      // unknown: the scheduler cannot be asked from here
    }
  }
  return out;
}

/**
 * Whether worker `w` runs in allocation `a`. Ids compared as maestro keeps them: a Flux id may
 * have been stored, or reported by an older worker, in its other form (`ƒ…`).
 */
const workerOf = (a: AllocationRecord, w: WorkerRecord): boolean =>
  w.scheduler === a.scheduler &&
  w.allocationId !== undefined &&
  canonicalAllocationId(a.scheduler, w.allocationId) === canonicalAllocationId(a.scheduler, a.id);

const left = (endsAt: number | undefined, now: number): string =>
  endsAt === undefined ? '-' : formatWalltime(Math.max(0, Math.floor((endsAt - now) / 1000)));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, k) => c.padEnd(widths[k]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function formatAllocations(
  allocations: readonly ListedAllocation[],
  workers: readonly WorkerRecord[],
  now: number,
): string {
  if (allocations.length === 0) return 'No allocations.\n';
  const rows = [['ALLOCATION', 'SCHEDULER', 'STATE', 'NODES', 'TIME LEFT', 'WORKERS', 'RUNNING', 'DONE', 'ORIGIN']];
  for (const a of allocations) {
    const mine = workers.filter((w) => workerOf(a, w));
    const ends = mine.map((w) => w.allocationEndsAt).find((e) => e !== undefined);
    rows.push([
      a.id,
      a.scheduler,
      a.state,
      String(a.nodes),
      a.state === 'ended'
        ? '-'
        : ends !== undefined
          ? left(ends, now)
          : a.walltimeSeconds
            ? `(${formatWalltime(a.walltimeSeconds)})`
            : '-',
      String(mine.length),
      String(mine.reduce((n, w) => n + w.running, 0)),
      String(mine.reduce((n, w) => n + w.done, 0)),
      a.origin === 'autoscale' ? `autoscale ${a.studyId ?? ''}`.trim() : 'launch',
    ]);
  }
  return table(rows);
}

function formatWorkers(workers: readonly WorkerRecord[], now: number): string {
  if (workers.length === 0) return 'No live workers.\n';
  const rows = [['WORKER', 'HOST', 'ALLOCATION', 'STATE', 'TIME LEFT', 'CORES FREE', 'RUNNING', 'DONE', 'QUEUES']];
  for (const w of workers) {
    rows.push([
      w.name,
      w.host,
      w.allocationId ?? '-',
      w.state,
      left(w.allocationEndsAt, now),
      w.cores !== undefined ? `${w.freeCores ?? '?'}/${w.cores}` : '-',
      String(w.running),
      String(w.done),
      w.queues,
    ]);
  }
  return table(rows);
}

// ---- stop ------------------------------------------------------------------------------------

export interface StopFlags extends FleetFlags {
  allocation?: string[];
  now?: boolean;
}

export async function workersStopCommand(flags: StopFlags, out: Writable): Promise<number> {
  const d = await deployment(flags);
  return withFleet(d, async (fleet) => {
    const now = Date.now();
    const records = await fleet.allocations();
    const open = records.filter((r) => r.endedAt === undefined);
    const workers = await fleet.liveWorkers(now);
    const wanted = flags.allocation ?? [];
    const chosen: AllocationRecord[] = [];
    for (const id of wanted) {
      const r = records.find((x) => {
        const ours = canonicalAllocationId(x.scheduler, x.id);
        return (
          ours === canonicalAllocationId(x.scheduler, id) ||
          `${x.scheduler}.${ours}` === id ||
          `${x.scheduler}.${x.id}` === id
        );
      });
      if (!r) {
        throw new AllocationError(
          AllocationErrorCode.Invalid,
          `--allocation: maestro submitted no allocation ${id} here (maestro workers list shows them)`,
        );
      }
      chosen.push(r);
    }
    const allocations = wanted.length > 0 ? chosen : open;
    // Workers outside any recorded allocation (started by hand) are asked to drain too.
    const loose =
      wanted.length > 0 ? [] : workers.filter((w) => !records.some((r) => workerOf(r, w))).map((w) => w.name);

    if (flags.now) {
      for (const scheduler of new Set(allocations.map((a) => a.scheduler))) {
        const mine = allocations.filter((a) => a.scheduler === scheduler);
        await schedulerClient(scheduler).cancel(mine.map((a) => a.id));
        for (const a of mine) {
          await fleet.markEnded(a, now);
          out.write(
            `Cancelled ${a.scheduler} allocation ${a.id}: its running steps are handed back and run again elsewhere\n`,
          );
        }
      }
      if (loose.length > 0) {
        await fleet.requestDrain({ allocations: [], workers: loose });
        out.write(`Asked ${formatCount(loose.length, 'worker')} outside any allocation to drain\n`);
      }
    } else {
      // Workers match the id in the form they keep it (canonicalAllocationId).
      await fleet.requestDrain({
        allocations: allocations.map((a) => canonicalAllocationId(a.scheduler, a.id)),
        workers: loose,
      });
      for (const a of allocations) {
        out.write(
          `Draining ${a.scheduler} allocation ${a.id}: its workers finish their running steps and exit, then it ends\n`,
        );
      }
      if (loose.length > 0) out.write(`Draining ${formatCount(loose.length, 'worker')} outside any allocation\n`);
    }
    if (allocations.length === 0 && loose.length === 0) out.write('No allocations or workers to stop.\n');
    return 0;
  });
}
