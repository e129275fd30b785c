/** Child loggers made on first use. */
import type { Logger } from 'pino';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = (): void => undefined;

/**
 * A child of `parent` with `bindings()`, made only when something is logged through it. Most
 * runs never log (a step that starts and succeeds is below the default level), and a pino
 * child per run costs about 20 µs of a worker's time; a call at a level that is off returns
 * at once without making it.
 */
export function lazyChild(parent: Logger, bindings: () => Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const real = (): Logger => (child ??= parent.child(bindings()));
  return new Proxy(parent, {
    get(_target, key) {
      if (typeof key === 'string' && LEVELS.has(key) && !parent.isLevelEnabled(key)) return noop;
      const target = real();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
