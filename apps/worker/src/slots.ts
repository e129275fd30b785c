/**
 * The worker's cores and GPUs, handed out to the steps it runs. First come, first served: a step
 * waiting for room is never overtaken by a smaller one that arrived later, so large steps are not
 * starved by a stream of small ones. GPUs are handed out by device id, so that each step sees
 * only its own (CUDA_VISIBLE_DEVICES).
 */

export interface Grant {
  readonly cores: number;
  readonly gpuIds: readonly string[];
}

interface Waiter {
  cores: number;
  gpus: number;
  resolve(grant: Grant | undefined): void;
}

export class Slots {
  #freeCores: number;
  readonly #freeGpus: string[];
  readonly #waiters: Waiter[] = [];

  constructor(
    readonly cores: number,
    readonly gpuIds: readonly string[],
  ) {
    this.#freeCores = cores;
    this.#freeGpus = [...gpuIds];
  }

  get freeCores(): number {
    return this.#freeCores;
  }
  get freeGpus(): number {
    return this.#freeGpus.length;
  }
  /** Steps waiting for room. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Takes the room now if nobody waits before us and it is free; undefined otherwise. */
  tryTake(cores: number, gpus: number): Grant | undefined {
    if (this.#waiters.length > 0 || !this.#fits(cores, gpus)) return undefined;
    return this.#take(cores, gpus);
  }

  /**
   * Waits in line for the room. Resolves undefined if `abandon()` is called first (the worker
   * is draining). The caller must be able to get the room at all (cores <= this.cores, ...).
   */
  take(cores: number, gpus: number): Promise<Grant | undefined> {
    const now = this.tryTake(cores, gpus);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.#waiters.push({ cores, gpus, resolve }));
  }

  release(grant: Grant): void {
    this.#freeCores += grant.cores;
    this.#freeGpus.push(...grant.gpuIds);
    this.#freeGpus.sort((a, b) => this.gpuIds.indexOf(a) - this.gpuIds.indexOf(b));
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.cores, this.#waiters[0]!.gpus)) {
      const w = this.#waiters.shift()!;
      w.resolve(this.#take(w.cores, w.gpus));
    }
  }

  /** Every waiter gets undefined: nothing more starts. */
  abandon(): void {
    for (const w of this.#waiters.splice(0)) w.resolve(undefined);
  }

  #fits(cores: number, gpus: number): boolean {
    return cores <= this.#freeCores && gpus <= this.#freeGpus.length;
  }

  #take(cores: number, gpus: number): Grant {
    this.#freeCores -= cores;
    return { cores, gpuIds: this.#freeGpus.splice(0, gpus) };
  }
}
