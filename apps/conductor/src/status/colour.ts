/**
 * Terminal colour for `maestro status`: on when writing to a terminal, off into files and pipes,
 * as people expect (NO_COLOR and FORCE_COLOR are honoured, https://no-color.org).
 */

export type ColourChoice = 'auto' | 'always' | 'never';

export interface Palette {
  readonly enabled: boolean;
  /** The text in the colour of a step state (FINISHED green, FAILED red, ...). */
  state(state: string, text?: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

const STATE_SGR: Record<string, string> = {
  FINISHED: '32',
  FAILED: '1;31',
  TIMEDOUT: '1;35',
  CANCELLED: '90',
  RUNNING: '36',
  FINISHING: '36',
  PENDING: '33',
  QUEUED: '33',
  PREEMPTED: '35',
  // Study states
  FAILURE: '1;31',
};

export function shouldColour(
  choice: ColourChoice,
  stream: { isTTY?: boolean | undefined },
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (choice !== 'auto') return choice === 'always';
  if (env['NO_COLOR']) return false;
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0') return true;
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

export function makePalette(enabled: boolean): Palette {
  const sgr = (code: string, text: string): string => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    enabled,
    state: (state, text = state) => {
      const code = STATE_SGR[state];
      return code ? sgr(code, text) : text;
    },
    bold: (text) => sgr('1', text),
    dim: (text) => sgr('2', text),
  };
}

const SGR_RE = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Characters a terminal shows (escape sequences take no room). */
export function visibleLength(text: string): number {
  return text.replace(SGR_RE, '').length;
}

/** Cuts a line to `width` visible characters, keeping escape sequences (and resetting at the cut). */
export function clipLine(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let shown = 0;
  let k = 0;
  while (k < text.length && shown < width) {
    if (text[k] === '\x1b') {
      const m = /^\x1b\[[0-9;?]*[A-Za-z]/.exec(text.slice(k));
      if (m) {
        out += m[0];
        k += m[0].length;
        continue;
      }
    }
    out += text[k];
    shown++;
    k++;
  }
  return text.includes('\x1b') ? `${out}\x1b[0m` : out;
}
