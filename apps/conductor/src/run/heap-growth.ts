/**
 * V8's old generation grows by 20% per full collection in the conductor (the bin sets
 * HEAP_GROWING_PERCENT before anything loads), instead of V8's own factor (up to 4x when it
 * thinks memory is plentiful): on a laptop or a login node its memory is what a user sees first.
 * 10,000 no-op steps on two worker processes: the conductor's peak 97-99 MiB instead of 109-111,
 * most of it reached while the study is expanded and written, before it runs (issue #27).
 *
 * A study of more than SMALL_HEAP_INSTANCES instances gets V8's own factor back while it runs:
 * at 100,000 instances the setting cost ~12% of the conductor's CPU (docs/performance.md). V8
 * reads it at each collection, so it can change once the study's size is known; it is put back
 * before the process ends, because V8 refuses a code cache written under other flags than it is
 * read with, and the bin writes its cache at exit.
 */
import v8 from 'node:v8';

export const SMALL_HEAP_INSTANCES = 20_000;
/** What bin/maestro.js sets. */
const HEAP_GROWING_PERCENT = 20;

/** V8's own heap growth for a study of more than SMALL_HEAP_INSTANCES; returns what undoes it. */
export function heapGrowthFor(instances: number): () => void {
  if (instances <= SMALL_HEAP_INSTANCES) return () => undefined;
  v8.setFlagsFromString('--heap-growing-percent=0'); // 0: V8's own factor
  // Also before the bin's cache is written when the process exits without returning here (a
  // second Ctrl-C).
  const undo = (): void => v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  process.prependOnceListener('exit', undo);
  return () => {
    process.off('exit', undo);
    undo();
  };
}
