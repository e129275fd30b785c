/**
 * The worker's root logger: pino, one JSON line per event on stderr (pretty when stderr is a
 * terminal). Every line passes through a scrubber that replaces each secret (the Redis password,
 * in any encoding) with `***`, whatever field or error message carried it there.
 */
import { pino, type Logger } from 'pino';
import { scrub, secretForms } from '@maestro/secrets';

export interface LoggerOptions {
  level: string;
  /** Texts that must never be written. */
  secrets?: readonly (string | undefined)[];
  /** Human-readable output; @default whether stderr is a terminal */
  pretty?: boolean;
  /** Where to write; @default stderr */
  destination?: NodeJS.WritableStream;
}

export async function makeLogger(options: LoggerOptions): Promise<Logger> {
  const forms = secretForms(options.secrets ?? []);
  // pino-pretty only for a person at a terminal: a worker started by the conductor or a batch
  // script never loads it (issue #27).
  const stream =
    (options.pretty ?? process.stderr.isTTY === true)
      ? (await import('pino-pretty')).default({
          destination: options.destination ?? 2,
          sync: true,
          colorize: options.destination === undefined,
        })
      : (options.destination ?? pino.destination({ fd: 2, sync: true }));
  return pino(
    {
      level: options.level,
      base: { app: 'maestro-worker' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: forms.length > 0 ? { streamWrite: (line: string) => scrub(line, forms) } : {},
    },
    stream,
  );
}
