/** `--redis`, `--redis-password-file`, `--tls-ca-file`, `--prefix`: how to reach a shared Redis. */
import { keyPrefixFor, parseRedisUrl } from '@maestro/protocol';
import type { Command } from 'commander';
import type { RedisChoice } from '../study/session.js';

export interface RedisFlags {
  redis?: string;
  redisPasswordFile?: string;
  sentinelPasswordFile?: string;
  tlsCaFile?: string;
}

export function addRedisOptions(cmd: Command): Command {
  return cmd
    .option(
      '--redis <url>',
      'shared Redis: redis://[user:pass@]host:port[/db], rediss://, redis+sentinel://[user:pass@]host:port[,host:port...]/MASTER_NAME or redis+cluster://[user:pass@]host:port[,host:port...] (default: MAESTRO_REDIS_URL, else a private server for the study)',
    )
    .option(
      '--redis-password-file <file>',
      'read the Redis password from this file (default: MAESTRO_REDIS_PASSWORD_FILE)',
    )
    .option(
      '--sentinel-password-file <file>',
      "read the sentinels' own password from this file, for redis+sentinel:// (default: MAESTRO_SENTINEL_PASSWORD_FILE; or ?sentinelPassword= in the URL)",
    )
    .option('--tls-ca-file <file>', 'CA certificate of a rediss:// server');
}

/**
 * The key prefix to use with `url` (none: the study's own server): on a Redis Cluster, the prefix
 * in a hash tag (`{maestro}`), so that every key of the deployment lands in one slot. A URL that
 * cannot be read keeps the prefix: connecting reports it.
 */
export function keyPrefixOf(prefix: string, url: string | undefined): string {
  if (url === undefined) return prefix;
  try {
    return keyPrefixFor(prefix, parseRedisUrl(url).kind);
  } catch {
    return prefix;
  }
}

export function redisChoice(flags: RedisFlags): RedisChoice {
  return {
    url: flags.redis ?? process.env['MAESTRO_REDIS_URL'] ?? undefined,
    passwordFile: flags.redisPasswordFile ?? process.env['MAESTRO_REDIS_PASSWORD_FILE'] ?? undefined,
    sentinelPasswordFile: flags.sentinelPasswordFile ?? process.env['MAESTRO_SENTINEL_PASSWORD_FILE'] ?? undefined,
    tlsCaFile: flags.tlsCaFile ?? process.env['MAESTRO_REDIS_TLS_CA_FILE'] ?? undefined,
  };
}
