/** `maestro run SPEC`: create the study root and run the study (`--dry`: write scripts only). */
import type { Writable } from 'node:stream';
import path from 'node:path';
import { loadStudy } from '../load-study.js';
import { printWarnings } from '../print-problems.js';
import { createStudyRoot } from '../study-root.js';
import { writeDryRun, writeStudySkeleton } from '../write-study.js';
import type { SpecOptions } from './common.js';

export interface RunOptions extends SpecOptions {
  dry?: boolean;
  yes?: boolean;
  no?: boolean;
}

export async function runCommand(spec: string, options: RunOptions, out: Writable, err: Writable): Promise<number> {
  const now = new Date();
  const cwd = process.cwd();
  const loaded = await loadStudy({
    specPath: spec,
    out: options.out,
    pgen: options.pgen,
    pargs: options.pargs,
    hashWorkspaces: options.hashws,
    maxInstances: options.maxInstances,
    cwd,
    now,
  });
  printWarnings(loaded.warnings, (l) => err.write(`${l}\n`));
  const wanted = loaded.expanded.root;
  const root = await createStudyRoot(wanted, {
    explicit: options.out !== undefined,
    yes: options.yes,
    no: options.no,
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
  });
  // A clash moved the root: expand again so every $(OUTPUT_PATH) and workspace points at it.
  const final =
    root === wanted
      ? loaded
      : await loadStudy({
          specPath: spec,
          out: root,
          pgen: undefined,
          pargs: [],
          savedParameters: loaded.generatedParameters,
          hashWorkspaces: options.hashws,
          maxInstances: options.maxInstances,
          cwd,
          now,
        });
  await writeStudySkeleton({
    loaded: final,
    root,
    dryRun: options.dry === true,
    pgen: options.pgen ? path.resolve(cwd, options.pgen) : undefined,
    pargs: options.pargs,
    maxInstances: options.maxInstances,
    now,
  });
  if (options.dry) {
    await writeDryRun(final.expanded, root);
    for (const dep of final.study.gitDependencies) {
      err.write(`note: dry run: git dependency ${dep.name} (${dep.url}) was not cloned\n`);
    }
    out.write(`Dry run: ${final.expanded.instanceCount} step instances written to ${root}\n`);
    return 0;
  }
  err.write('maestro run: executing studies is not available yet; use --dry to write the workspaces and scripts\n');
  return 1;
}
