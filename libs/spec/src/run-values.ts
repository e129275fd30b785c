/**
 * What the `run:` keys that hold numbers, times and flags mean once their `$(NAME)` tokens are
 * replaced: by then they are text (`procs: $(P)` becomes `'2'`), and these read that text. The
 * same readers check a spec (parse, expansion) and build a step's job (the conductor), so a spec
 * that validates never fails a step later for a value it could not read.
 */
import { parseWalltimeSeconds, WalltimeError } from '@maestro/protocol';

/** Step keys that hold a count, and the least each may be (the schema's bound for literals). */
export const RUN_COUNT_KEYS: Readonly<Record<string, number>> = {
  nodes: 1,
  procs: 1,
  gpus: 0,
  'cores per task': 1,
  'tasks per rs': 1,
  'rs per node': 1,
  'cpus per rs': 1,
  'gpus per task': 0,
  'num resource set': 1,
};

/** A whole number, written as a number or as text (`'4'`, after substitution); else undefined. */
export function readCount(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * `exclusive:` as Maestro's YAML would have it. A boolean is itself. Text is what a `$(NAME)`
 * became: Python's `str()` of the YAML value behind the token, so it is false where that value is
 * falsy in Python (`False`, `0`, `0.0`, `None`, empty text, `[]`, `{}`) and true otherwise.
 */
export function readFlag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value !== 'string') return undefined;
  return !PY_FALSY_TEXT.has(value.trim());
}

const PY_FALSY_TEXT = new Set(['', 'False', 'None', '0', '0.0', '-0.0', '[]', '{}', '()']);

/**
 * What a walltime may be, for messages. The forms of Slurm's `--time` (Maestro passes `walltime:`
 * to `#SBATCH --time` verbatim).
 */
export const WALLTIME_FORMS =
  'allowed: HH:MM:SS (01:30:00), M:S, minutes (90), D-H, D-H:M, D-H:M:S, or 0, inf or unlimited for no limit';

/** Whether `value` is a walltime: what @maestro/protocol turns into the step's timeout. */
export function isWalltime(value: string | number): boolean {
  try {
    parseWalltimeSeconds(value);
    return true;
  } catch (err) {
    if (err instanceof WalltimeError) return false;
    throw err;
  }
}
