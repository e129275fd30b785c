/**
 * `$(LAUNCHER)` expansion. A step script reaches the worker fully rendered except for this token,
 * because only the worker knows which scheduler it runs under and inside which allocation
 * (step-job.ts). Maestro writes the token as `$(LAUNCHER)` (use the step's own `nodes`/`procs`)
 * or `$(LAUNCHER)[2n, 4p]` (a share of them for one command of the step).
 *
 * Pure: script and context in, script out. Each scheduler's expansion is one case of
 * {@link launcherCommand}; a scheduler without one throws a {@link LauncherError} naming it.
 */
import type { StepResources } from './step-job.js';

/** Where the worker runs its steps. `local`: directly on the worker's node, no scheduler. */
export type LauncherScheduler = 'local' | 'slurm' | 'flux';

export interface LauncherContext {
  scheduler: LauncherScheduler;
  /** The step's resources (`nodes`, `procs`, ...), as the StepJob carries them. */
  resources: StepResources;
}

/** A `$(LAUNCHER)` token, bare or followed by a one-line `[...]` allocation. */
const LAUNCHER_TOKEN = /\$\(LAUNCHER\)(?:\[([^\]\n]*)\])?/g;

/** `script` with every `$(LAUNCHER)` and `$(LAUNCHER)[...]` token replaced by the launch command. */
export function expandLauncher(script: string, context: LauncherContext): string {
  return script.replace(LAUNCHER_TOKEN, (_token: string, allocation: string | undefined) =>
    launcherCommand(context, allocation),
  );
}

/** The command that one token becomes; `allocation` is the text inside `[...]`, if any. */
function launcherCommand(context: LauncherContext, allocation: string | undefined): string {
  switch (context.scheduler) {
    case 'local':
      // No scheduler: the command runs in place, so the launcher (and any allocation) vanishes.
      return '';
    case 'slurm':
    case 'flux':
      throw new LauncherError(context.scheduler);
    default: {
      const never: never = context.scheduler;
      return never;
    }
  }
}

export class LauncherError extends Error {
  override readonly name = 'LauncherError';
  constructor(readonly scheduler: string) {
    super(`$(LAUNCHER) cannot be expanded for scheduler '${scheduler}'; supported: local`);
  }
}
