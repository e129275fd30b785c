/**
 * `maestro expand SPEC`: the study as the conductor would run it, as JSON or a readable tree:
 * each step, its first instances with their workspaces and commands (one line each; `--full`
 * prints every command whole).
 */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { nodeHours, type ExpandedStudy } from '@maestro/spec';
import { jobSettingsOf } from '../conductor/step-jobs.js';
import { loadStudy } from '../study/load.js';
import { formatCount } from '../status/count.js';
import { formatNodeHours, nodeHoursJson } from './node-hours.js';
import { printWarnings } from './print-problems.js';
import { instanceJson } from '../study/write.js';
import type { SpecOptions } from './common.js';

export interface ExpandOptions extends SpecOptions {
  json?: boolean;
  /** Print each instance's whole command, not its first line cut to the width. */
  full?: boolean;
}

/** What the tree is written to: process.stdout in real use. */
type Output = Writable & { isTTY?: boolean; columns?: number };

export async function expandCommand(spec: string, options: ExpandOptions, out: Output, err: Writable): Promise<number> {
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
  else await writeTree(loaded.expanded, out, options.full === true);
  return 0;
}

/**
 * Streams `{"name","root","steps":[...]}` so that large studies do not build one huge string.
 * Each step instance also has `job`: how a worker will run it (queue, interpreter, walltime as
 * timeoutMs, resources), as the conductor puts it in the StepJob.
 */
async function writeJson(x: ExpandedStudy, out: Writable): Promise<void> {
  await write(
    out,
    `{"name":${JSON.stringify(x.name)},"root":${JSON.stringify(x.root)},"nodeHours":${JSON.stringify(nodeHoursJson(nodeHours(x)))},"steps":[`,
  );
  for (let i = 0; i < x.instanceCount; i++) {
    const inst = x.instance(i);
    const { queue, interpreter, timeoutMs, resources } = jobSettingsOf(x, inst);
    const job = { queue, interpreter, timeoutMs: timeoutMs ?? null, resources };
    await write(out, `${i ? ',' : ''}\n${JSON.stringify({ ...instanceJson(x, i, inst), job })}`);
  }
  await write(out, '\n]}\n');
}

const SHOWN_PER_STEP = 10;
/** Width of a shortened command line into a pipe or file (a terminal gives its own). */
const PIPE_WIDTH = 100;

async function writeTree(x: ExpandedStudy, out: Output, full: boolean): Promise<void> {
  const width = out.isTTY && out.columns ? out.columns : PIPE_WIDTH;
  await write(out, `${x.name}: ${formatCount(x.instanceCount, 'step instance')} in ${x.root}\n`);
  for (const [k, step] of x.steps.entries()) {
    const deps = [
      ...step.parents.map((p) => x.steps[p]!.name),
      ...step.funnelParents.map((p) => `${x.steps[p]!.name} (all)`),
    ];
    const perSample = x.samplesPerCombination(k);
    const params =
      (step.usedParameters.length ? `, over ${step.usedParameters.join(', ')}` : '') +
      (perSample ? `, once per sample (${formatCount(perSample, 'sample')})` : '');
    await write(
      out,
      `\n${step.name}: ${formatCount(step.instanceCount, 'instance')}${params}${deps.length ? `, after ${deps.join(', ')}` : ''}\n`,
    );
    const shown = Math.min(step.instanceCount, SHOWN_PER_STEP);
    for (let k = 0; k < shown; k++) {
      const inst = x.instance(step.firstInstance + k);
      await write(out, `  ${inst.name}  ${inst.workspace}/\n`);
      const lines = full ? commandLines(inst.cmd) : [shortCommand(inst.cmd, width - 6)];
      await write(out, lines.map((l, n) => `    ${n === 0 ? '$' : ' '} ${l}\n`).join(''));
    }
    if (step.instanceCount > shown) await write(out, `  ... and ${step.instanceCount - shown} more (see --json)\n`);
  }
  const bound = formatNodeHours(nodeHours(x));
  if (bound.length) await write(out, `\n${bound.join('\n')}\n`);
}

/** The command's lines, without the blank ones around it. */
function commandLines(cmd: string): string[] {
  const lines = cmd.replace(/\s+$/, '').split('\n');
  while (lines.length > 1 && lines[0]!.trim() === '') lines.shift();
  return lines;
}

/**
 * A command in one line of at most `width` characters: its first line, cut with `...` if longer,
 * and how many lines follow (`[+3 lines]`), which `--full` shows.
 */
export function shortCommand(cmd: string, width: number): string {
  const lines = commandLines(cmd).filter((l) => l.trim() !== '');
  const first = (lines[0] ?? '').trim();
  const rest = lines.length > 1 ? `  [+${formatCount(lines.length - 1, 'line')}]` : '';
  const room = Math.max(10, width - rest.length);
  return `${first.length > room ? `${first.slice(0, room - 3)}...` : first}${rest}`;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}
