/**
 * Time for the worker's parts: the clock they read (`Now`, injected so tests can drive it), and
 * the real timers they arm: delays of any length, a time limit on a promise, a throttle for
 * warnings that repeat.
 */

/** Epoch ms now. The worker's parts read time only through one of these. */
export type Now = () => number;

/** Largest delay setTimeout takes; longer ones fire at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` after `ms`, however long (a 30-day walltime is fine); returns a canceller. */
export function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(left, MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** `promise`, or a rejection once Redis has not answered for `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `write` at most once per `intervalMs` of `now`; the first call always writes. */
export function throttled(intervalMs: number, now: Now): (write: () => void) => void {
  let last: number | undefined;
  return (write) => {
    const at = now();
    if (last !== undefined && at - last < intervalMs) return;
    last = at;
    write();
  };
}
