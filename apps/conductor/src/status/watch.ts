/**
 * `maestro status --watch`: redraws until every study has ended, or Ctrl-C.
 *
 * On a terminal each frame is fitted to the window (watch-view.ts) and drawn over the last one
 * from the top; a resized window is redrawn at once. Into a file or pipe a frame is printed only
 * when something other than the clock moved, whole, so that a log of it reads top to bottom.
 */
import type { Writable } from 'node:stream';
import { clipLine, type Palette } from './colour.js';
import { renderStudyStatus, type StudyStatusInput } from './view.js';
import { renderWatchFrame } from './watch-view.js';

/** What the frames are drawn on: process.stdout in real use. */
export type WatchOutput = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/** One look at the studies: their status, and whether all ended. */
export interface WatchSnapshot {
  readonly studies: readonly StudyStatusInput[];
  readonly ended: boolean;
}

export interface WatchOptions {
  readonly out: WatchOutput;
  readonly read: (now: number) => Promise<WatchSnapshot>;
  readonly intervalMs: number;
  /** The study folders as given, for the header. */
  readonly dirs: readonly string[];
  readonly palette: Palette;
  readonly layout: 'flat' | 'narrow';
  readonly failedOnly: boolean;
  /** Emits 'SIGINT'/'SIGTERM' (process in real use): both end the watch. */
  readonly signals?: NodeJS.EventEmitter;
}

/** A pseudo-terminal may report 0 rows and columns (size unknown): draw for the classic size. */
const DEFAULT_COLUMNS = 80;
const DEFAULT_ROWS = 24;
/** Table rows printed into a pipe before they become per-step bars. */
const PIPE_MAX_ROWS = 200;

export async function watchStatus(o: WatchOptions): Promise<number> {
  const { out } = o;
  const tty = out.isTTY === true;
  const signals = o.signals ?? process;
  let stop = false;
  let resized = false;
  let wake: (() => void) | undefined;
  const onSignal = (): void => {
    stop = true;
    wake?.();
  };
  const onResize = (): void => {
    resized = true;
    wake?.();
  };
  signals.once('SIGINT', onSignal);
  signals.once('SIGTERM', onSignal);
  out.on('resize', onResize);
  let last = '';
  try {
    if (tty) out.write('\x1b[?25l\x1b[2J'); // hide the cursor while redrawing; start on a clear screen
    for (;;) {
      const now = new Date();
      const snap = await o.read(now.getTime());
      const header = `Every ${o.intervalMs / 1000}s: maestro status ${o.dirs.join(' ')}    ${now.toLocaleTimeString()}${snap.ended ? '    (ended)' : ''}`;
      if (tty) {
        const width = out.columns || DEFAULT_COLUMNS;
        const height = out.rows || DEFAULT_ROWS;
        const frame = terminalFrame(snap, header, width, height, o, now.getTime());
        // A window that changed size may hold wrapped remains of the last frame: clear it all.
        const clear = resized ? '\x1b[2J' : '';
        resized = false;
        out.write(`${clear}\x1b[H${frame.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
      } else {
        const body = pipeBody(snap, o, now.getTime()).join('\n');
        const key = body.replace(/ \| elapsed .*$/gm, '');
        if (key !== last) out.write(`${last ? '\n' : ''}${header}\n${body}\n`);
        last = key;
      }
      if (snap.ended || stop) return 0;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, o.intervalMs); // not unref'd: this wait is what keeps the process alive
      });
      wake = undefined;
      if (stop) return 0;
    }
  } finally {
    // Below the last frame, with the cursor back, for the shell's prompt.
    if (tty) out.write('\r\n\x1b[?25h');
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
    out.off('resize', onResize);
  }
}

/** The lines of a terminal frame: at most `height`, none wider than the window. */
function terminalFrame(
  snap: WatchSnapshot,
  header: string,
  width: number,
  height: number,
  o: WatchOptions,
  now: number,
): string[] {
  if (!o.failedOnly) {
    return renderWatchFrame(snap.studies, { palette: o.palette, width, height, now, header });
  }
  // --failed: the failures as without --watch, cut to the window with a count of what is left.
  const lines = [header, ''];
  snap.studies.forEach((s, k) => {
    if (k > 0) lines.push('');
    lines.push(...renderStudyStatus(s, { palette: o.palette, layout: o.layout, failedOnly: true, now }));
  });
  const fitted = lines.map((l) => clipLine(l, Math.max(1, width - 1)));
  if (fitted.length <= height) return fitted;
  const kept = fitted.slice(0, Math.max(0, height - 1));
  const more = `  ... ${fitted.length - kept.length} more lines: maestro status --failed shows them all`;
  return [...kept, o.palette.dim(clipLine(more, Math.max(1, width - 1)))];
}

/** What a pipe gets: each study as `maestro status` prints it, big tables as per-step bars. */
function pipeBody(snap: WatchSnapshot, o: WatchOptions, now: number): string[] {
  const lines: string[] = [];
  snap.studies.forEach((s, k) => {
    if (k > 0) lines.push('');
    lines.push(
      ...renderStudyStatus(s, {
        palette: o.palette,
        layout: o.layout,
        failedOnly: o.failedOnly,
        now,
        maxRows: PIPE_MAX_ROWS,
      }),
    );
  });
  return lines;
}
