/** `maestro validate SPEC`: every problem at once; exit 1 if there is any. */
import type { Writable } from 'node:stream';
import { checkPathDependencies } from '../study/dependencies.js';
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
    hashWorkspaces: options.hashws,
    workspaceFanout: options.workspaceFanout,
    maxInstances: options.maxInstances,
    cwd,
    now: new Date(),
  });
  printWarnings(loaded.warnings, (l) => err.write(`${l}\n`));
  const x = loaded.expanded;
  await checkPathDependencies(loaded.study, { root: x.root, specRoot: x.specRoot, cwd });
  out.write(
    `${spec}: valid: ${formatCount(x.steps.length, 'step')}, ${formatCount(x.instanceCount, 'step instance')}\n`,
  );
  return 0;
}
