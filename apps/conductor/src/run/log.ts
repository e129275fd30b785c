/**
 * The conductor's pino logger: every event as a JSON line in `meta/conductor.log`, and readable
 * lines on the terminal (through the Terminal, so they do not tear the progress bar).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { scrub, secretForms } from '@maestro/secrets';
import { pino, multistream, type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerSetup {
  readonly log: Logger;
  /**
   * The same log without the console: for what the command prints itself (the sentence a study
   * stopped with), so that the terminal shows it once. Equal to `log` without a file.
   */
  readonly fileLog: Logger;
  close(): Promise<void>;
}

export interface LoggerOptions {
  /** JSON lines go here (the study's `meta/conductor.log`). */
  readonly file?: string | undefined;
  /** Readable lines go here; undefined = none. */
  readonly console?: ((line: string) => void) | undefined;
  /** Least level shown on the console. @default 'info' */
  readonly consoleLevel?: pino.Level | undefined;
  readonly level?: pino.Level | undefined;
  readonly base?: Record<string, unknown>;
  /**
   * Texts never to write (the Redis password): replaced by `***` in every line, whatever field
   * or error carried them there (ioredis errors hold the arguments of the AUTH/HELLO command).
   */
  readonly secrets?: readonly string[] | undefined;
}

export function makeLogger(options: LoggerOptions): LoggerSetup {
  const streams: StreamEntry[] = [];
  let file: WriteStream | undefined;
  if (options.file) {
    file = createWriteStream(options.file, { flags: 'a' });
    streams.push({ level: options.level ?? 'info', stream: file });
  }
  if (options.console) {
    const sink = options.console;
    const toConsole = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) sink(line);
        done();
      },
    });
    const prettyStream = pretty({
      colorize: process.stderr.isTTY === true,
      translateTime: 'HH:MM:ss',
      ignore: 'pid,hostname,app',
      destination: toConsole,
      sync: true,
    });
    streams.push({ level: options.consoleLevel ?? 'info', stream: prettyStream });
  }
  const forms = secretForms(options.secrets ?? []);
  const settings = {
    level: options.level ?? 'info',
    base: { app: 'conductor', ...options.base },
    hooks: forms.length > 0 ? { streamWrite: (line: string) => scrub(line, forms) } : {},
  };
  const log = pino(settings, multistream(streams));
  return {
    log,
    fileLog: file ? pino(settings, multistream([streams[0]!])) : log,
    close: async () => {
      if (file) await new Promise<void>((resolve) => file.end(resolve));
    },
  };
}
