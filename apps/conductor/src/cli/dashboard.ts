/**
 * `maestro dashboard [STUDY_DIR] [--redis URL] [--port 3000] [--host 127.0.0.1] [--auth user:pw]
 * [--allow-actions]`: serves the study view and bull-board until interrupted.
 */
import type { Writable } from 'node:stream';
import { AUTH_ENV, resolveDashboardSettings, type DashboardSettings } from '../dashboard/settings.js';
import { makeLogger } from '../run/log.js';
import type { RedisTarget } from '../redis/connection.js';
import { openStudy, redisForStudy, StudyNotRunningError } from '../study/session.js';
import type { ExecutionFlags } from './common.js';
import { redisChoice, type RedisFlags } from './redis-options.js';

export interface DashboardFlags extends RedisFlags {
  port?: number;
  host?: string;
  auth?: string;
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
    auth: flags.auth ?? (process.env[AUTH_ENV] || undefined),
    allowActions: flags.allowActions === true,
  };
  resolveDashboardSettings({ ...draft, prefix: flags.prefix });
  const choice = redisChoice(flags);
  let target: RedisTarget;
  let prefix = flags.prefix;
  if (dir !== undefined) {
    // A study's own Redis (the embedded server of `maestro run` without --redis) or its shared one.
    const meta = await openStudy(dir);
    try {
      target = (await redisForStudy(meta, choice, false)).target;
    } catch (e) {
      if (!(e instanceof StudyNotRunningError)) throw e;
      throw new Error(
        `the study in ${meta.root} has its own Redis, which runs only while the study does; ` +
          `maestro status ${meta.root} shows it now, and maestro run --dashboard shows the next one live`,
        { cause: e },
      );
    }
    prefix ??= meta.prefix;
  } else if (choice.url) {
    target = { url: choice.url, passwordFile: choice.passwordFile, tlsCaFile: choice.tlsCaFile };
  } else {
    throw new Error(
      'maestro dashboard needs a Redis: --redis URL (or MAESTRO_REDIS_URL), or a study folder to show the Redis of',
    );
  }
  const settings = resolveDashboardSettings({ ...draft, prefix });
  const { log, close: closeLog } = makeLogger({ console: (line) => err.write(`${line}\n`), level: 'info' });
  const { startDashboard } = await import('../dashboard/server.js'); // heavy: loaded only for this command
  const dashboard = await startDashboard({ settings, redis: target, log });
  out.write(`maestro dashboard: ${dashboard.url}\n`);
  out.write(`queues (bull-board): ${dashboard.url}queues\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info({ signal }, 'dashboard stopping');
  await dashboard.close();
  await closeLog();
  return 0;
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
