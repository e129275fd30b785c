/**
 * Settings that arrive after the worker has started (`--settings-on-stdin`): `maestro run`
 * starts its local workers before its study's Redis exists, so that a worker's start (mostly
 * Node compiling its bundle) overlaps the conductor reading the spec and starting Redis; the
 * conductor writes one line once Redis answers.
 *
 * The line is a JSON object of MAESTRO_* environment variables (MAESTRO_REDIS_URL,
 * MAESTRO_REDIS_PASSWORD_FILE, MAESTRO_QUEUES, ...), read as if they had been in the
 * environment from the start. Standard input that ends without a line means the conductor is
 * gone, or needs no worker after all: the worker then exits, and is never left behind.
 */
import type { Readable } from 'node:stream';

/** The settings line, parsed; undefined if the stream ended first. Throws on a malformed line. */
export async function readStdinSettings(input: Readable): Promise<Record<string, string> | undefined> {
  const line = await firstLine(input);
  if (line === undefined) return undefined;
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('--settings-on-stdin: expected a JSON object of MAESTRO_* variables');
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    // Only the worker's own variables: a line cannot change PATH or what steps inherit.
    if (!key.startsWith('MAESTRO_') || typeof value !== 'string')
      throw new Error(`--settings-on-stdin: ${key} is not a MAESTRO_* variable with a text value`);
    settings[key] = value;
  }
  return settings;
}

function firstLine(input: Readable): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (line: string | undefined): void => {
      input.off('data', onData).off('end', onEnd).off('error', reject);
      // Nothing more is read: the conductor closes its end after the line.
      input.pause();
      input.destroy();
      resolve(line);
    };
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end >= 0) done(text.slice(0, end));
    };
    const onEnd = (): void => done(undefined);
    input.on('data', onData).once('end', onEnd).once('error', reject);
  });
}
