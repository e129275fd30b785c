/**
 * V8's old generation grown by 20% per full collection, instead of its own factor (up to 4x
 * when it thinks memory is plentiful), while the conductor runs a study of up to
 * SMALL_HEAP_INSTANCES instances: on a laptop or a login node its memory is what a user sees.
 * 10,000 no-op steps on two worker processes: the conductor's peak 97-99 MiB instead of 109-111
 * (issue #27). Not for larger studies: at 100,000 instances it cost ~12% of the conductor's CPU
 * (docs/performance.md). V8 reads the setting at each collection, so it can be set once the
 * study's size is known; it must be undone before the process ends, because V8 refuses a code
 * cache written under other flags than it is read with, and the bin writes its cache at exit.
 */
import v8 from 'node:v8';

export const SMALL_HEAP_INSTANCES = 20_000;

/** Sets the slower heap growth for a study of `instances`; returns what undoes it. */
export function slowHeapGrowth(instances: number): () => void {
  if (instances > SMALL_HEAP_INSTANCES) return () => undefined;
  v8.setFlagsFromString('--heap-growing-percent=20');
  // 0 is V8's default: its own factor. Also before the bin's cache is written when the process
  // exits without returning here (a second Ctrl-C).
  const undo = (): void => v8.setFlagsFromString('--heap-growing-percent=0');
  process.prependOnceListener('exit', undo);
  return () => {
    process.off('exit', undo);
    undo();
  };
}
