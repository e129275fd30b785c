/**
 * `$(LAUNCHER)` expansion. A step script reaches the worker fully rendered except for this token,
 * because only the worker knows which scheduler it runs under and inside which allocation
 * (step-job.ts). Maestro writes the token as `$(LAUNCHER)` (use the step's own `nodes`/`procs`)
 * or `$(LAUNCHER)[2n, 4p]` (a share of them for one command of the step).
 *
 * The forms, as in Maestro (maestro-spec.md §6.1): `[Pp]`, `[Nn, Pp]` or `[Pp, Nn]` in either
 * order (p required), or the legacy `[N, P]`. Each share must fit the step (n <= nodes,
 * p <= procs) and all shares together must too. Where Maestro leaves a bare `$(LAUNCHER)`
 * unexpanded because a bracketed one is present, we expand it with the step's whole resources
 * (docs/differences-from-maestro.md).
 *
 * What a token becomes:
 * - local: nothing (the command runs in place, as one process);
 * - slurm: `srun -n P -N N -c C --overlap --exact [-w NODE] [--gpus-per-task=G]`: `--overlap`
 *   lets the step start next to the worker's own job step and the other steps of the
 *   allocation; `--exact` gives it only what it asked for; `-w` keeps it on (or spanning from)
 *   the worker's node, whose cores the worker counted for it;
 * - flux: `flux run -n P -N N -c C [-g G]` (G per task).
 *
 * Pure: script and context in, script out; a request that cannot be met throws a LauncherError.
 */
import type { StepResources } from './step-job.js';

/** Where the worker runs its steps. `local`: directly on the worker's node, no scheduler. */
export type LauncherScheduler = 'local' | 'slurm' | 'flux';

export interface LauncherContext {
  scheduler: LauncherScheduler;
  /** The step's resources (`nodes`, `procs`, ...), as the StepJob carries them. */
  resources: StepResources;
  /** Scheduler name of the worker's node (SLURMD_NODENAME), to keep steps on it. */
  node?: string | undefined;
}

/** A `$(LAUNCHER)` token, bare or followed by a one-line `[...]` allocation. */
const LAUNCHER_TOKEN = /\$\(LAUNCHER\)(?:\[([^\]\n]*)\])?/g;

/** One launch: tasks, nodes, cores per task, GPUs per task. */
interface Launch {
  procs: number;
  nodes: number;
  coresPerTask: number;
  gpusPerTask: number;
}

/** `script` with every `$(LAUNCHER)` and `$(LAUNCHER)[...]` token replaced by the launch command. */
export function expandLauncher(script: string, context: LauncherContext): string {
  if (context.scheduler === 'local') {
    // No scheduler: the command runs in place, so the launcher (and any allocation) vanishes.
    return script.replace(LAUNCHER_TOKEN, '');
  }
  const whole = wholeStep(context.resources);
  const shares = [...script.matchAll(LAUNCHER_TOKEN)]
    .map((m) => m[1])
    .filter((a): a is string => a !== undefined)
    .map((a) => parseShare(a, whole));
  const used = shares.reduce(
    (sum, s) => ({ procs: sum.procs + s.procs, nodes: sum.nodes + (s.nodesGiven ? s.nodes : 0) }),
    {
      procs: 0,
      nodes: 0,
    },
  );
  if (used.procs > whole.procs) {
    throw new LauncherError(
      `$(LAUNCHER) shares ask for ${used.procs} tasks in all; the step has procs: ${whole.procs}`,
    );
  }
  if (used.nodes > whole.nodes) {
    throw new LauncherError(
      `$(LAUNCHER) shares ask for ${used.nodes} nodes in all; the step has nodes: ${whole.nodes}`,
    );
  }
  let k = 0;
  return script.replace(LAUNCHER_TOKEN, (_token: string, allocation: string | undefined) =>
    launchCommand(context, allocation === undefined ? whole : shares[k++]!),
  );
}

/** What a bare token launches: the whole step; procs default to one task per node. */
function wholeStep(r: StepResources): Launch {
  const nodes = r.nodes ?? 1;
  const procs = r.procs ?? nodes;
  return { procs, nodes, coresPerTask: r.coresPerTask ?? 1, gpusPerTask: r.gpus ? Math.ceil(r.gpus / procs) : 0 };
}

/** `2n, 8p` | `8p, 2n` | `8p` | legacy `2, 8` (nodes, procs). */
function parseShare(text: string, whole: Launch): Launch & { nodesGiven: boolean } {
  const bad = (why: string): LauncherError =>
    new LauncherError(`$(LAUNCHER)[${text}]: ${why}; write [Pp], [Nn, Pp] or [Pp, Nn], e.g. $(LAUNCHER)[1n, 4p]`);
  const legacy = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text);
  let nodes: number | undefined;
  let procs: number | undefined;
  if (legacy) {
    nodes = Number(legacy[1]);
    procs = Number(legacy[2]);
  } else {
    for (const part of text.split(',')) {
      const m = /^\s*(\d+)\s*([np])\s*$/i.exec(part);
      if (!m) throw bad(`'${part.trim()}' is not a count of nodes (n) or tasks (p)`);
      const n = Number(m[1]);
      if (m[2]!.toLowerCase() === 'n') {
        if (nodes !== undefined) throw bad('nodes given twice');
        nodes = n;
      } else {
        if (procs !== undefined) throw bad('tasks given twice');
        procs = n;
      }
    }
  }
  if (procs === undefined) throw bad('the number of tasks (p) is required');
  if (procs < 1) throw bad('needs at least one task');
  if (nodes !== undefined && nodes < 1) throw bad('needs at least one node');
  if (procs > whole.procs) throw bad(`${procs} tasks, but the step has procs: ${whole.procs}`);
  if (nodes !== undefined && nodes > whole.nodes) throw bad(`${nodes} nodes, but the step has nodes: ${whole.nodes}`);
  return {
    procs,
    nodes: nodes ?? Math.min(whole.nodes, procs),
    nodesGiven: nodes !== undefined,
    coresPerTask: whole.coresPerTask,
    gpusPerTask: whole.gpusPerTask,
  };
}

/** The command that one token becomes. */
function launchCommand(context: LauncherContext, l: Launch): string {
  switch (context.scheduler) {
    case 'local':
      return '';
    case 'slurm':
      return [
        `srun -n ${l.procs} -N ${l.nodes} -c ${l.coresPerTask} --overlap --exact`,
        context.node ? `-w ${context.node}` : '',
        l.gpusPerTask > 0 ? `--gpus-per-task=${l.gpusPerTask}` : '',
      ]
        .filter(Boolean)
        .join(' ');
    case 'flux':
      return `flux run -n ${l.procs} -N ${l.nodes} -c ${l.coresPerTask}${l.gpusPerTask > 0 ? ` -g ${l.gpusPerTask}` : ''}`;
    default: {
      const never: never = context.scheduler;
      return never;
    }
  }
}

/** A `$(LAUNCHER)` request the step's resources cannot meet; the message says which and why. */
export class LauncherError extends Error {
  override readonly name = 'LauncherError';
}
