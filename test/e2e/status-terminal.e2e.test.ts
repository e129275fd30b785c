/**
 * `maestro status --watch` in a real terminal, read off the screen as a person sees it (a
 * pseudo-terminal, and xterm.js's emulator for the screen): while a 40-instance study runs, the
 * summary, the step's bar and instance rows (names and states) fill windows of 80x24 and
 * 200x50 without scrolling; a window resized is redrawn to its new size, one too small says so,
 * and the watch ends with the study.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { MAESTRO_BIN } from '../helpers/cli.js';
import { killAll, startRun, waitForOutput } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { startInTerminal, type TerminalSession } from '../helpers/terminal.js';

const redisUrl = inject('redisUrl');
const sessions: TerminalSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.kill();
  await killAll();
});

const INSTANCES = 40;
const ROW = /^work_N\.(\d+) +(RUNNING|PENDING|FINISHED)\b/;

/** Instance rows on the screen: name -> state. */
function instanceRows(screen: readonly string[]): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of screen) {
    const m = ROW.exec(line);
    if (m) rows.set(`work_N.${m[1]}`, m[2]!);
  }
  return rows;
}

describe('maestro status --watch on a terminal', () => {
  it(
    'shows instance rows at 80x24 and 200x50, follows a resize, and says when too small',
    { timeout: 240_000 },
    async () => {
      const dir = tempDir();
      const gate = path.join(dir, 'go');
      const root = path.join(dir, 'study');
      const values = Array.from({ length: INSTANCES }, (_, k) => k + 1).join(', ');
      const spec = writeSpec(
        dir,
        'fortyrows',
        `study:
  - name: work
    description: waits for the test
    run:
      cmd: echo $(N); while [ ! -e ${gate} ]; do sleep 0.1; done
global.parameters:
  N: {values: [${values}], label: N.%%}
`,
      );
      const run = startRun(spec, root, redisUrl, {
        prefix: `t${randomUUID().slice(0, 8)}`,
        localWorkers: 1,
        extra: ['--worker-concurrency', '2'],
      });
      await waitForOutput(run, /starting study/, 60_000);
      await waitFor(
        () => /"RUNNING": 2/.test(readSafe(path.join(root, 'meta/status.json'))),
        60_000,
        'two instances to run',
      );

      const watch = [process.execPath, MAESTRO_BIN, 'status', '--watch', '--interval', '500ms', root];
      const small = await startInTerminal(watch, { cols: 80, rows: 24 }, { NO_COLOR: undefined });
      sessions.push(small);
      const large = await startInTerminal(watch, { cols: 200, rows: 50 }, { NO_COLOR: undefined });
      sessions.push(large);

      // 80x24: the header on the first row (nothing scrolled away), the summary, and as many
      // instance rows as fit, the running ones first, then a line counting the rest.
      // status.csv is written just after status.json: wait for a frame drawn from both.
      const settled = (screen: string[], rows: number): boolean =>
        instanceRows(screen).size >= rows &&
        [...instanceRows(screen).values()].slice(0, 2).join() === 'RUNNING,RUNNING' &&
        /State: RUNNING \| 40 instances: RUNNING 2, PENDING 38/.test(screen.join('\n'));
      const s80 = await small.waitForScreen((s) => settled(s, 10), 60_000, 'instance rows at 80x24');
      expect(s80[0]).toMatch(/^Every 0\.5s: maestro status /);
      expect(s80.some((l) => /^ {2}work \[/.test(l))).toBe(true);
      expect(s80.some((l) => /^ {2}\.\.\. and \d+ more: PENDING \d+/.test(l))).toBe(true);
      expect(s80.every((l) => l.length < 80)).toBe(true);

      // 200x50: every instance fits.
      const s200 = await large.waitForScreen((s) => settled(s, INSTANCES), 60_000, 'all rows at 200x50');
      expect(s200[0]).toMatch(/^Every 0\.5s: maestro status /);
      expect([...instanceRows(s200).values()].filter((s) => s === 'RUNNING')).toHaveLength(2);

      // Made taller, the window shows more rows at once; made tiny, it says it is too small.
      await small.resize(100, 40);
      await small.waitForScreen(
        (s) => instanceRows(s).size >= 25 && s[0]!.startsWith('Every'),
        30_000,
        'rows at 100x40',
      );
      await small.resize(20, 4);
      await small.waitForScreen((s) => s.join(' ').includes('terminal too small'), 30_000, 'the too-small message');
      await small.resize(80, 24);
      await small.waitForScreen((s) => instanceRows(s).size >= 10, 30_000, 'rows at 80x24 again');

      // The study ends: both watches draw its end and exit.
      writeFileSync(gate, '');
      expect(await large.done).toBe(0);
      expect(await small.done).toBe(0);
      expect(large.screen().join('\n')).toMatch(/State: FINISHED \| 40 instances: FINISHED 40/);
      expect((await run).exitCode).toBe(0);
    },
  );
});

function readSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
