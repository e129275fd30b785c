/**
 * A command in a real pseudo-terminal, as in a person's shell, and the screen it draws.
 *
 * util-linux `script` gives the command a pty of the size asked (`stty rows R cols C` on it);
 * xterm.js's own emulator (headless) reads what it writes and keeps the screen, so a test reads
 * rows of text as a person would see them: cursor moves, erasures, wrapping and scrolling
 * included. Resizing sets the pty's size (`stty -F`), which signals the command (SIGWINCH).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import xterm from '@xterm/headless';
import { execa, type ResultPromise } from 'execa';
import { tempDir, waitFor } from './study.js';

const { Terminal } = xterm;

export interface TerminalSession {
  /** The rows of the screen as text, trailing spaces trimmed. */
  screen(): string[];
  /** Waits until the screen satisfies `check`; fails with the last screen. */
  waitForScreen(check: (rows: string[]) => boolean, timeoutMs: number, what: string): Promise<string[]>;
  /** Changes the window's size, as a person dragging its corner. */
  resize(cols: number, rows: number): Promise<void>;
  /** The command's end: its exit code. */
  readonly done: Promise<number>;
  kill(): void;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function startInTerminal(
  argv: readonly string[],
  size: { cols: number; rows: number },
  env: NodeJS.ProcessEnv = {},
): Promise<TerminalSession> {
  const term = new Terminal({ cols: size.cols, rows: size.rows, allowProposedApi: true, scrollback: 1000 });
  const ttyFile = path.join(tempDir('maestro-tty-'), 'tty');
  const command = `stty rows ${size.rows} cols ${size.cols}; tty > ${ttyFile}; exec ${argv.map(quote).join(' ')}`;
  const child: ResultPromise = execa('script', ['-qfec', command, '/dev/null'], {
    reject: false,
    env: { TERM: 'xterm-256color', ...env },
    stdin: 'pipe',
  });
  let pending = Promise.resolve();
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = pending.then(() => new Promise<void>((resolve) => term.write(chunk, resolve)));
  });
  const done = child.then(async (r) => {
    await pending;
    return r.exitCode ?? -1;
  });
  const device = await waitFor(
    () => {
      try {
        return readFileSync(ttyFile, 'utf8').trim() || undefined;
      } catch {
        return undefined;
      }
    },
    30_000,
    'the pseudo-terminal to open',
  );
  const screen = (): string[] => {
    const b = term.buffer.active;
    const rows: string[] = [];
    for (let y = 0; y < term.rows; y++) rows.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? '');
    return rows;
  };
  return {
    screen,
    async waitForScreen(check, timeoutMs, what) {
      try {
        return await waitFor(
          async () => {
            await pending;
            const rows = screen();
            return check(rows) ? rows : undefined;
          },
          timeoutMs,
          what,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; the screen:\n${screen().join('\n')}`, { cause: err });
      }
    },
    async resize(cols, rows) {
      term.resize(cols, rows);
      await execa('stty', ['-F', device, 'rows', String(rows), 'cols', String(cols)]);
    },
    done,
    kill: () => child.kill('SIGKILL'),
  };
}
