/**
 * The worker's cores and GPUs, handed out to the steps it runs. GPUs are handed out by device id,
 * so that each step sees only its own (CUDA_VISIBLE_DEVICES). Nobody waits here: a step that
 * finds no room goes back to the queue for another worker (job-runner.ts).
 */

export interface Grant {
  readonly cores: number;
  readonly gpuIds: readonly string[];
}

export class Slots {
  #freeCores: number;
  readonly #freeGpus: string[];

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
  /** Takes the room if it is free now; undefined otherwise. */
  tryTake(cores: number, gpus: number): Grant | undefined {
    if (cores > this.#freeCores || gpus > this.#freeGpus.length) return undefined;
    this.#freeCores -= cores;
    return { cores, gpuIds: this.#freeGpus.splice(0, gpus) };
  }

  release(grant: Grant): void {
    this.#freeCores += grant.cores;
    this.#freeGpus.push(...grant.gpuIds);
    this.#freeGpus.sort((a, b) => this.gpuIds.indexOf(a) - this.gpuIds.indexOf(b));
  }
}
