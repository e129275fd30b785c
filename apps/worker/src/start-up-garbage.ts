/**
 * One full garbage collection once the worker has started and is quiet (no step running, no job
 * in hand): what loading the bundle, reading the configuration and connecting left behind.
 *
 * Why: V8 collects only when it allocates, and an idle worker allocates almost nothing, so the
 * start-up's garbage (the bundle's source read from disk and its code cache, module
 * initialisation, BullMQ's scripts sent to Redis) stays resident until V8's memory reducer runs,
 * eight seconds after the first full collection. An idle local worker then held 75 MiB RSS for
 * its first ~8 s and 65 MiB after (issue #27); a worker in an allocation waiting for its steps,
 * or one of maestro run's local workers waiting for a slow step's children, is in that state.
 *
 * Node exposes no collection without `--expose-gc` on its command line, which a batch script
 * would have to pass; V8's own `gc` extension is installed in a context made while the flag is
 * set (the way jest's leak detector gets it), so a throwaway context lends it. Two passes: the
 * first finds the start-up's objects dead, the second the bytecode V8 aged out in the first.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface StartUpGarbageParts {
  /** No step running and no job in hand. */
  isQuiet(): boolean;
  /** Called once, when the worker is quiet; @default a full V8 collection, twice */
  collect?: () => void;
  /** How often to look for a quiet moment. @default 500 */
  checkMs?: number;
}

export class StartUpGarbage {
  readonly #parts: StartUpGarbageParts;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(parts: StartUpGarbageParts) {
    this.#parts = parts;
  }

  /** Looks every `checkMs` for a quiet moment, collects once in it, and stops looking. */
  start(): void {
    if (this.#done) return;
    this.#timer = setInterval(() => {
      if (!this.#parts.isQuiet()) return;
      this.stop();
      (this.#parts.collect ?? collectTwice)();
    }, this.#parts.checkMs ?? 500);
    this.#timer.unref();
  }

  stop(): void {
    this.#done = true;
    clearInterval(this.#timer);
  }
}

function collectTwice(): void {
  try {
    v8.setFlagsFromString('--expose-gc');
    vm.runInNewContext('gc(); gc();');
  } catch {
    // Only ever a saving: V8 collects by itself later.
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
