/** `maestro cancel` and `maestro update`: requests to the conductor of a running study. */
import type { Writable } from 'node:stream';
import { CONTROL_FIELD, controlKey, leaseKey, type ControlRequest } from '@maestro/protocol';
import { connect, openStudy, redisForStudy } from '../study/session.js';
import { redisChoice, type RedisFlags } from './redis-options.js';

async function send(dir: string, flags: RedisFlags, request: ControlRequest): Promise<{ name: string; root: string }> {
  const meta = await openStudy(dir);
  const opened = await redisForStudy(meta, redisChoice(flags), false);
  const redis = await connect(opened, 'command');
  try {
    const holder = await redis.get(leaseKey(meta.prefix, meta.id));
    if (!holder)
      throw new Error(`no conductor is running the study in ${meta.root}; start one with: maestro resume ${meta.root}`);
    await redis.xadd(controlKey(meta.prefix, meta.id), '*', CONTROL_FIELD, JSON.stringify(request));
  } finally {
    redis.disconnect();
  }
  return { name: meta.name, root: meta.root };
}

export async function cancelCommand(dirs: string[], flags: RedisFlags, out: Writable): Promise<number> {
  for (const dir of dirs) {
    const s = await send(dir, flags, { type: 'cancel' });
    out.write(`Cancel requested for ${s.name}: running steps are stopped, nothing more runs (${s.root})\n`);
  }
  return 0;
}

export interface UpdateFlags extends RedisFlags {
  throttle?: number;
  rlimit?: number;
}

export async function updateCommand(dirs: string[], flags: UpdateFlags, out: Writable): Promise<number> {
  if (flags.throttle === undefined && flags.rlimit === undefined) {
    throw new Error('maestro update needs --throttle N and/or --rlimit N');
  }
  for (const dir of dirs) {
    const s = await send(dir, flags, { type: 'update', throttle: flags.throttle, rlimit: flags.rlimit });
    const what = [
      flags.throttle !== undefined ? `throttle ${flags.throttle}` : '',
      flags.rlimit !== undefined ? `rlimit ${flags.rlimit}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    out.write(`Updated ${s.name}: ${what} (${s.root})\n`);
  }
  return 0;
}
