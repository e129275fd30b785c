/**
 * Workers by number: a state record holds a 16-bit worker number, the study record the names
 * (StudyRecordField.workerNames, a JSON array whose entry 0 is '' for "none").
 */

/** Worker numbers fit in 16 bits; a worker past that is recorded as 0 (unknown). */
const MAX_WORKER = 0xffff;

export class WorkerNames {
  readonly #names: string[] = [''];
  readonly #index = new Map<string, number>();
  readonly #added: (json: string) => void;

  /**
   * `stored`: the names as stored (JSON), if any. `added` is called with the names as JSON
   * whenever a new one is numbered, to be stored with the next commit.
   */
  constructor(stored: string | undefined, added: (json: string) => void) {
    this.#added = added;
    const names = stored === undefined ? [] : (JSON.parse(stored) as unknown);
    if (!Array.isArray(names)) return;
    names.forEach((n: unknown, k) => {
      if (typeof n !== 'string') return;
      this.#names[k] = n;
      if (n) this.#index.set(n, k);
    });
  }

  /** The number of worker `name` (or of its host when it has no name), given one if new. */
  ref(name: string, host: string): number {
    const key = name || host;
    let k = this.#index.get(key);
    if (k === undefined) {
      k = this.#names.length;
      if (k > MAX_WORKER) return 0;
      this.#names.push(key);
      this.#index.set(key, k);
      this.#added(this.toJSON());
    }
    return k;
  }

  name(k: number): string {
    return this.#names[k] ?? '';
  }

  toJSON(): string {
    return JSON.stringify(this.#names);
  }
}
