import { createRequire } from 'node:module';
import path from 'node:path';

/** The `maestro-worker` entry point of the installed @maestro/worker package. */
export function workerBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@maestro/worker/package.json')), 'bin', 'maestro-worker.js');
}
