/**
 * Merlin's return-code tokens: `exit $(MERLIN_RETRY)` in a step asks the conductor to act (retry,
 * restart, soft or hard fail, stop the workers). The numbers are Merlin's (merlin/common/enums.py,
 * ReturnCode), so a script written for Merlin means the same here.
 */
import type { Study } from './study.js';
import { tokenNames } from './tokens.js';

/** Token name -> exit code, as Merlin substitutes them. */
export const MERLIN_RETURN_CODES = {
  MERLIN_SUCCESS: 0,
  MERLIN_RESTART: 100,
  MERLIN_SOFT_FAIL: 101,
  MERLIN_HARD_FAIL: 102,
  MERLIN_RETRY: 104,
  MERLIN_STOP_WORKERS: 105,
  MERLIN_RAISE_ERROR: 106,
} as const;
export type MerlinReturnCodeName = keyof typeof MERLIN_RETURN_CODES;

/** The text `$(name)` becomes when `name` is a return-code token, else undefined (for replaceTokens). */
export function merlinReturnCodeToken(name: string): string | undefined {
  return Object.hasOwn(MERLIN_RETURN_CODES, name)
    ? String(MERLIN_RETURN_CODES[name as MerlinReturnCodeName])
    : undefined;
}

/** Merlin's `run` keys that only a Merlin spec has. */
const MERLIN_RUN_KEYS = ['max_retries', 'retry_delay', 'task_queue'] as const;

/**
 * Whether exit codes 100-106 are Merlin's requests rather than plain failures: the spec has a
 * `merlin:` block, a step uses a Merlin run key or a return-code token. Maestro studies keep
 * Maestro's meaning (any non-zero exit is a failure), so a Maestro script that happens to exit
 * 104 does not start retrying.
 */
export function usesMerlinReturnCodes(study: Study): boolean {
  if (study.merlin !== undefined) return true;
  return study.steps.some(
    (s) =>
      MERLIN_RUN_KEYS.some((k) => s.run[k] !== undefined) ||
      [s.run.cmd, s.run.restart ?? ''].some((text) =>
        tokenNames(text).some((n) => merlinReturnCodeToken(n) !== undefined),
      ),
  );
}
