/**
 * The bin (bin/maestro.js) has V8 grow the conductor's old generation by 20% per full
 * collection (HEAP_GROWING_PERCENT), instead of V8's own factor (up to 4x when it thinks memory
 * is plentiful), while a command reads, expands and writes a study: on a laptop or a login node
 * the conductor's memory is what a user sees first. While the study then runs, V8's own factor
 * is back: with the setting kept, the conductor spent ~30% more CPU per step on 2,000 no-op
 * steps and a 1,000-step fan-out ran ~9% slower (`npm run bench -- --only noop --quick`, two
 * pairs alternating with a build without it), for 10,000 instances peaking at 94 MiB instead of
 * ~101 (issue #27: docs/performance.md).
 *
 * V8 reads the setting at each collection, so it can change at run time; it is put back before
 * the process ends, because V8 refuses a code cache written under other flags than it is read
 * with, and the bin writes its cache at exit.
 */
import v8 from 'node:v8';

/** What bin/maestro.js sets. */
const HEAP_GROWING_PERCENT = 20;

/** V8's own heap growth while a study runs; returns what puts the bin's setting back. */
export function ownHeapGrowthWhileRunning(): () => void {
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
