/** `maestro expand SPEC`: the study as the conductor would run it, as JSON or a readable tree. */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import type { ExpandedStudy } from '@maestro/spec';
import { jobSettingsOf } from '../conductor/step-jobs.js';
import { loadStudy } from '../study/load.js';
import { printWarnings } from './print-problems.js';
import { instanceJson } from '../study/write.js';
import type { SpecOptions } from './common.js';

export interface ExpandOptions extends SpecOptions {
  json?: boolean;
}

export async function expandCommand(
  spec: string,
  options: ExpandOptions,
  out: Writable,
  err: Writable,
): Promise<number> {
  const loaded = await loadStudy({
    specPath: spec,
    out: options.out,
    pgen: options.pgen,
    pargs: options.pargs,
    pgenTimeoutMs: options.pgenTimeout,
    hashWorkspaces: options.hashws,
    workspaceFanout: options.workspaceFanout,
    maxInstances: options.maxInstances,
    cwd: process.cwd(),
    now: new Date(),
  });
  printWarnings(loaded.warnings, (l) => err.write(`${l}\n`));
  if (options.json) await writeJson(loaded.expanded, out);
  else await writeTree(loaded.expanded, out);
  return 0;
}

/**
 * Streams `{"name","root","steps":[...]}` so that large studies do not build one huge string.
 * Each step instance also has `job`: how a worker will run it (queue, interpreter, walltime as
 * timeoutMs, resources), as the conductor puts it in the StepJob.
 */
async function writeJson(x: ExpandedStudy, out: Writable): Promise<void> {
  await write(out, `{"name":${JSON.stringify(x.name)},"root":${JSON.stringify(x.root)},"steps":[`);
  for (let i = 0; i < x.instanceCount; i++) {
    const inst = x.instance(i);
    const { queue, interpreter, timeoutMs, resources } = jobSettingsOf(x, inst);
    const job = { queue, interpreter, timeoutMs: timeoutMs ?? null, resources };
    await write(out, `${i ? ',' : ''}\n${JSON.stringify({ ...instanceJson(x, i, inst), job })}`);
  }
  await write(out, '\n]}\n');
}

const SHOWN_PER_STEP = 10;

async function writeTree(x: ExpandedStudy, out: Writable): Promise<void> {
  await write(out, `${x.name}: ${x.instanceCount} step instance${x.instanceCount === 1 ? '' : 's'} in ${x.root}\n`);
  for (const step of x.steps) {
    const deps = [
      ...step.parents.map((p) => x.steps[p]!.name),
      ...step.funnelParents.map((p) => `${x.steps[p]!.name} (all)`),
    ];
    const params = step.usedParameters.length ? `, over ${step.usedParameters.join(', ')}` : '';
    await write(
      out,
      `\n${step.name}: ${step.instanceCount} instance${step.instanceCount === 1 ? '' : 's'}${params}${deps.length ? `, after ${deps.join(', ')}` : ''}\n`,
    );
    const shown = Math.min(step.instanceCount, SHOWN_PER_STEP);
    for (let k = 0; k < shown; k++) {
      const inst = x.instance(step.firstInstance + k);
      await write(out, `  ${inst.name}  ${inst.workspace}/\n`);
    }
    if (step.instanceCount > shown) await write(out, `  ... and ${step.instanceCount - shown} more (see --json)\n`);
  }
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}
