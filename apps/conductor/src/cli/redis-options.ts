/** `--redis`, `--redis-password-file`, `--tls-ca-file`, `--prefix`: how to reach a shared Redis. */
import type { Command } from 'commander';
import type { RedisChoice } from '../study/session.js';

export interface RedisFlags {
  redis?: string;
  redisPasswordFile?: string;
  tlsCaFile?: string;
}

export function addRedisOptions(cmd: Command): Command {
  return cmd
    .option(
      '--redis <url>',
      'shared Redis: redis://[user:pass@]host:port[/db] or rediss:// (default: MAESTRO_REDIS_URL, else a private server for the study)',
    )
    .option(
      '--redis-password-file <file>',
      'read the Redis password from this file (default: MAESTRO_REDIS_PASSWORD_FILE)',
    )
    .option('--tls-ca-file <file>', 'CA certificate of a rediss:// server');
}

export function redisChoice(flags: RedisFlags): RedisChoice {
  return {
    url: flags.redis ?? process.env['MAESTRO_REDIS_URL'] ?? undefined,
    passwordFile: flags.redisPasswordFile ?? process.env['MAESTRO_REDIS_PASSWORD_FILE'] ?? undefined,
    tlsCaFile: flags.tlsCaFile ?? process.env['MAESTRO_REDIS_TLS_CA_FILE'] ?? undefined,
  };
}
