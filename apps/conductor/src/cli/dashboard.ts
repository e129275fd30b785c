/**
 * `maestro dashboard [STUDY_DIR] [--redis URL] [--port 3000] [--host 127.0.0.1] [--auth-file F]
 * [--allow-actions]`: serves the study view and bull-board until interrupted. Given a study folder
 * whose Redis is gone, it shows that study from its folder alone.
 *
 * Also what `maestro run/resume --dashboard` does with its dashboard when the study ends.
 */
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Dashboard } from '../dashboard/server.js';
import {
  AUTH_ENV,
  DashboardError,
  DashboardErrorCode,
  resolveDashboardSettings,
  type DashboardSettings,
} from '../dashboard/settings.js';
import { FOLDER_NOTES } from '../dashboard/study-sources.js';
import { makeLogger } from '../run/log.js';
import type { RedisTarget } from '../redis/connection.js';
import type { StudyMeta } from '../study/meta.js';
import { openStudy, redisForStudy, StudyNotRunningError, targetOf, type RedisChoice } from '../study/session.js';
import type { ExecutionFlags } from './common.js';
import { keyPrefixOf, redisChoice, type RedisFlags } from './redis-options.js';

export interface DashboardFlags extends RedisFlags {
  port?: number;
  host?: string;
  /** `user:password` on the command line: `ps` shows it only as `user:***` (bin/maestro.js). */
  auth?: string;
  /** A file holding `user:password`. */
  authFile?: string;
  allowActions?: boolean;
  prefix?: string;
}

export async function dashboardCommand(
  dir: string | undefined,
  flags: DashboardFlags,
  out: Writable,
  err: Writable,
): Promise<number> {
  // Settings first: an unsafe address is refused before anything connects or listens.
  const draft = {
    host: flags.host,
    port: flags.port,
    auth: await credentials(flags),
    allowActions: flags.allowActions === true,
  };
  resolveDashboardSettings({ ...draft, prefix: flags.prefix });
  const choice = redisChoice(flags);
  let target: RedisTarget | undefined;
  let study: StudyMeta | undefined;
  let folderNote: string | undefined;
  if (dir !== undefined) {
    study = await openStudy(dir);
    ({ target, folderNote } = await studyRedis(study, choice));
  } else if (choice.url) {
    target = targetOf({ ...choice, url: choice.url });
  } else {
    throw new Error(
      'maestro dashboard needs a Redis: --redis URL (or MAESTRO_REDIS_URL), or a study folder to show the Redis of',
    );
  }
  const prefix = flags.prefix === undefined ? study?.prefix : keyPrefixOf(flags.prefix, target?.url);
  const settings = resolveDashboardSettings({ ...draft, prefix: prefix ?? keyPrefixOf('maestro', target?.url) });
  const { log, close: closeLog } = makeLogger({ console: (line) => err.write(`${line}\n`), level: 'info' });
  const { startDashboard } = await import('../dashboard/server.js'); // heavy: loaded only for this command
  const dashboard = await startDashboard({ settings, redis: target, study, folderNote, log });
  out.write(`maestro dashboard: ${dashboard.url}\n`);
  if (folderNote !== undefined) out.write(`showing ${study!.root} ${folderNote}\n`);
  else out.write(`queues (bull-board): ${dashboard.url}queues\n`);
  const signal = await interrupted();
  log.info({ signal }, 'dashboard stopping');
  await dashboard.close();
  await closeLog();
  return 0;
}

/** The Redis of a study, or why there is none to read (its folder then stands in). */
async function studyRedis(
  meta: StudyMeta,
  choice: RedisChoice,
): Promise<{ target: RedisTarget | undefined; folderNote: string | undefined }> {
  // A shared Redis is never written down with its password: without --redis there is none to ask.
  if (meta.redis?.mode === 'external' && !choice.url) return { target: undefined, folderNote: FOLDER_NOTES.noUrl };
  try {
    // A study's own Redis (the embedded server of `maestro run` without --redis) or its shared one.
    return { target: (await redisForStudy(meta, choice, false)).target, folderNote: undefined };
  } catch (e) {
    if (!(e instanceof StudyNotRunningError)) throw e;
    return { target: undefined, folderNote: FOLDER_NOTES.noRedis };
  }
}

/** `--auth`, else the file of `--auth-file`, else MAESTRO_DASHBOARD_AUTH; never two of them. */
async function credentials(flags: DashboardFlags): Promise<string | undefined> {
  if (flags.auth !== undefined && flags.authFile !== undefined) {
    throw new DashboardError(DashboardErrorCode.Invalid, '--auth and --auth-file: give one of them, not both');
  }
  if (flags.authFile === undefined) return flags.auth ?? (process.env[AUTH_ENV] || undefined);
  try {
    return (await readFile(flags.authFile, 'utf8')).trim();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new DashboardError(DashboardErrorCode.Invalid, `--auth-file: cannot read ${flags.authFile}: ${why}`, {
      cause: e,
    });
  }
}

function interrupted(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/**
 * The dashboard of `maestro run/resume --dashboard [port]`: loopback only (`maestro dashboard`
 * serves other addresses), credentials from MAESTRO_DASHBOARD_AUTH if set, read-only queues.
 */
export function dashboardSettingsFor(flags: ExecutionFlags): Readonly<DashboardSettings> | undefined {
  if (flags.dashboard === undefined) return undefined;
  return resolveDashboardSettings({
    port: flags.dashboard,
    auth: process.env[AUTH_ENV] || undefined,
    prefix: flags.prefix,
  });
}

export interface DashboardAfterRun {
  /** For conduct's `keepDashboard`: undefined when the dashboard closes with the run. */
  readonly keep: ((dashboard: Dashboard) => Promise<void>) | undefined;
  /** After the final status is printed: serves the study's final state until Ctrl-C, if kept. */
  serve(): Promise<void>;
}

/**
 * Whether the run's dashboard outlives the study: yes on a terminal (someone is there to look,
 * and to press Ctrl-C), no elsewhere (a batch job must end when its study does, not at its
 * walltime); `--dashboard-exit` and `--no-dashboard-exit` say so outright.
 */
export function dashboardAfterRun(flags: ExecutionFlags, err: Writable): DashboardAfterRun {
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  const stay = flags.dashboard !== undefined && !(flags.dashboardExit ?? !interactive);
  let kept: Dashboard | undefined;
  return {
    keep: stay
      ? async (dashboard) => {
          try {
            await dashboard.studyEnded();
            kept = dashboard;
          } catch {
            await dashboard.close(); // the study matters more than its view
          }
        }
      : undefined,
    serve: async () => {
      if (!kept) return;
      err.write(`study ended; the dashboard stays up at ${kept.url} until Ctrl-C\n`);
      await interrupted();
      await kept.close();
    },
  };
}
