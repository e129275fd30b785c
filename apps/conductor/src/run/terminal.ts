/**
 * What a person sees while a study runs: on a terminal, one progress line redrawn in place with
 * log lines printed above it; elsewhere (a pipe, a batch job's output), plain lines only.
 */
import type { Progress } from '../conductor/index.js';
import { formatDuration } from '../status/index.js';

export class Terminal {
  #bar = '';
  #lastPlain = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    readonly interactive: boolean = out.isTTY === true,
    private readonly plainEveryMs = 10_000,
  ) {}

  /** Prints a line above the progress bar. */
  line(text: string): void {
    if (this.interactive && this.#bar) this.out.write(`\r\x1b[2K${text}\n${this.#bar}`);
    else this.out.write(`${text}\n`);
  }

  progress(p: Progress, now = Date.now()): void {
    const text = formatProgress(p, this.interactive ? Math.max(20, (this.out.columns ?? 100) - 1) : 200);
    if (this.interactive) {
      this.#bar = text;
      this.out.write(`\r\x1b[2K${text}`);
    } else if (now - this.#lastPlain >= this.plainEveryMs || p.state !== 'RUNNING') {
      this.#lastPlain = now;
      this.out.write(`${text}\n`);
    }
  }

  /** Leaves the bar's last state on its own line. */
  end(): void {
    if (this.interactive && this.#bar) this.out.write('\n');
    this.#bar = '';
  }
}

export function formatProgress(p: Progress, width: number): string {
  const c = p.counts;
  const done = c['FINISHED'] ?? 0;
  const failed = (c['FAILED'] ?? 0) + (c['TIMEDOUT'] ?? 0);
  const cancelled = c['CANCELLED'] ?? 0;
  const finished = done + failed + cancelled;
  const pct = p.total ? finished / p.total : 1;
  const eta = p.etaMs === undefined ? '--' : formatDuration(p.etaMs);
  const tail =
    ` ${finished}/${p.total} | done ${done}, running ${p.running}, queued ${p.queued}` +
    `${failed ? `, failed ${failed}` : ''}${cancelled ? `, cancelled ${cancelled}` : ''}` +
    ` | ${p.ratePerSec.toFixed(p.ratePerSec < 10 ? 1 : 0)}/s | ETA ${eta}`;
  const barWidth = Math.max(10, Math.min(30, width - tail.length - 3));
  const filled = Math.round(pct * barWidth);
  const text = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
  return text.length > width ? text.slice(0, width) : text;
}
