/**
 * Durations given on command lines and in the environment (`--idle-timeout`, `--preempt-margin`,
 * `--shutdown-grace`, `MAESTRO_IDLE_TIMEOUT`...). The conductor checks them and hands them to
 * workers as text, inside batch scripts: both must read one grammar, or a value the conductor
 * accepted stops every worker of an allocation at start.
 *
 * Grammar: a bare number is seconds (`90`, `1.5`); otherwise one or more parts `<number><unit>`
 * with units ms, s, m, h, d, spaces allowed between number and unit and between parts
 * (`30s`, `5m`, `1h30m`, `1h 30m`, `30 s`, `250ms`, `1.5h`). No signs, no exponents.
 * Step walltimes are another grammar, Slurm's (walltime.ts).
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const BARE_SECONDS = /^\d+(?:\.\d+)?$/;
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*/y;

/** What to write, for messages: `e.g. 30s, 5m, 1h30m`. */
export const DURATION_EXAMPLES = 'e.g. 30s, 5m, 1h30m';

/** Milliseconds, rounded; undefined if `text` is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (BARE_SECONDS.test(t)) return Math.round(Number(t) * 1000);
  if (t === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0; // a failed sticky match resets lastIndex: keep the end of the last part apart
  for (let m = PART.exec(t); m !== null; m = PART.exec(t)) {
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    consumed = PART.lastIndex;
  }
  return consumed === t.length ? Math.round(total) : undefined;
}
