/**
 * The script a step instance runs: its shell on the first line, then its expanded command. The
 * conductor sends it in the step's job and `run --dry` writes it into the workspace: one text for both.
 */
import type { ExpandedStudy, StepInstance } from './expanded-study.js';

/** `#!<shell>`, a blank line, and the command ending in a newline. */
export function renderStepScript(shell: string, cmd: string): string {
  return `#!${shell}\n\n${cmd}${cmd.endsWith('\n') ? '' : '\n'}`;
}

/** The shell of an instance: Merlin's per-step `shell`, else the batch block's. */
export function shellOf(expanded: ExpandedStudy, instance: StepInstance): string {
  const own = instance.run['shell'];
  return typeof own === 'string' && own ? own : expanded.batch.shell;
}
