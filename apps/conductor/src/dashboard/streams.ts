/**
 * Live updates of a study as server-sent events. One poll per watched study, however many pages
 * watch it: each tick reads the study hash's cursor (one HMGET) and pushes a `summary` event to
 * every subscriber when it moved, and at least every `refreshMs` so that elapsed time and ETA
 * move on while nothing finishes.
 */
import type { Logger } from 'pino';
import type { StudyCatalog } from './catalog.js';
import type { StudyDetail } from './views.js';

export type StreamEvent = { type: 'summary'; data: StudyDetail } | { type: 'problem'; data: { error: string } };
type Listener = (event: StreamEvent) => void;

interface Watch {
  readonly listeners: Set<Listener>;
  readonly timer: NodeJS.Timeout;
  lastVersion: string | undefined;
  lastSentMs: number;
  busy: boolean;
}

export class StudyStreams {
  readonly #watches = new Map<string, Watch>();

  constructor(
    private readonly catalog: StudyCatalog,
    private readonly log: Logger,
    private readonly pollMs = 1000,
    private readonly refreshMs = 5000,
  ) {}

  /** Sends the current summary at once, then changes; returns the unsubscribe function. */
  subscribe(id: string, listener: Listener): () => void {
    let w = this.#watches.get(id);
    if (!w) {
      const created: Watch = {
        listeners: new Set(),
        timer: setInterval(() => void this.#tick(id, created), this.pollMs),
        lastVersion: undefined,
        lastSentMs: 0,
        busy: false,
      };
      created.timer.unref();
      this.#watches.set(id, created);
      w = created;
    }
    w.listeners.add(listener);
    this.catalog.study(id).then(
      (data) => listener({ type: 'summary', data }),
      (err: unknown) => listener({ type: 'problem', data: { error: (err as Error).message } }),
    );
    const watch = w;
    return () => {
      watch.listeners.delete(listener);
      if (watch.listeners.size === 0) {
        clearInterval(watch.timer);
        if (this.#watches.get(id) === watch) this.#watches.delete(id);
      }
    };
  }

  get watched(): number {
    return this.#watches.size;
  }

  async #tick(id: string, w: Watch): Promise<void> {
    if (w.busy) return; // a slow Redis: skip a beat rather than pile up reads
    w.busy = true;
    try {
      const data = await this.catalog.study(id);
      if (data.version !== w.lastVersion || data.now - w.lastSentMs >= this.refreshMs) {
        w.lastVersion = data.version;
        w.lastSentMs = data.now;
        for (const l of w.listeners) l({ type: 'summary', data });
      }
    } catch (err) {
      this.log.debug({ studyId: id, err: (err as Error).message }, 'study stream poll failed');
      w.lastVersion = undefined;
      for (const l of w.listeners) l({ type: 'problem', data: { error: (err as Error).message } });
    } finally {
      w.busy = false;
    }
  }

  close(): void {
    for (const w of this.#watches.values()) clearInterval(w.timer);
    this.#watches.clear();
  }
}
