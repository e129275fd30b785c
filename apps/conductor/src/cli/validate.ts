/**
 * `maestro validate SPEC`: every problem of every layer at once (schema, references, dependencies,
 * loops, walltimes, parameters, expansion, paths that must exist), each at its place in the file;
 * exit 1 if there is any.
 */
import type { Writable } from 'node:stream';
import { formatCount } from '../status/count.js';
import { loadStudy } from '../study/load.js';
import { printWarnings } from './print-problems.js';
import type { SpecOptions } from './common.js';

export async function validateCommand(
  spec: string,
  options: SpecOptions,
  out: Writable,
  err: Writable,
): Promise<number> {
  const cwd = process.cwd();
  const loaded = await loadStudy({
    specPath: spec,
    pgen: options.pgen,
    pargs: options.pargs,
    pgenTimeoutMs: options.pgenTimeout,
    hashWorkspaces: options.hashws,
    workspaceFanout: options.workspaceFanout,
    maxInstances: options.maxInstances,
    cwd,
    now: new Date(),
    everyLayer: true,
  });
  printWarnings(loaded.warnings, (l) => err.write(`${l}\n`));
  const x = loaded.expanded;
  out.write(
    `${spec}: valid: ${formatCount(x.steps.length, 'step')}, ${formatCount(x.instanceCount, 'step instance')}\n`,
  );
  return 0;
}
