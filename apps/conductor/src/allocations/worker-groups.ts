/**
 * Merlin's worker groups (`merlin.resources.workers`: `NAME: {steps, nodes, args, batch,
 * machines}`) as `maestro workers launch --group NAME` uses them: the queues of the group's
 * steps, its node count and its batch settings over the spec's. As in Merlin
 * (merlin/spec/specification.py), a group without `steps` takes `[all]` and a step no group names
 * goes to an implicit `default_worker` group.
 */
import { DEFAULT_QUEUE } from '@maestro/protocol';
import type { ExpandedStudy, Study } from '@maestro/spec';
import { jobSettingsOf, settingsVaryByInstance } from '../conductor/index.js';
import { AllocationError, AllocationErrorCode } from './errors.js';

/** Merlin's name for the group of steps no group names (merlin/spec/specification.py). */
export const DEFAULT_WORKER_GROUP = 'default_worker';

export interface WorkerGroup {
  readonly name: string;
  /** The steps the group's workers run, by name (every step for `[all]`). */
  readonly steps: readonly string[];
  /** Their queues: workers take whatever these queues hold, as Merlin's celery workers do. */
  readonly queues: readonly string[];
  /** `nodes:`, if set: the allocation's node count unless --nodes is given. */
  readonly nodes: number | undefined;
  /** The spec's `batch:` block with the group's `batch:` over it. */
  readonly batch: Readonly<Record<string, unknown>>;
  /** From `--concurrency N` / `-c N` in the group's celery `args`; its other arguments are not acted on. */
  readonly concurrency: number | undefined;
}

interface GroupInput {
  steps?: unknown;
  nodes?: unknown;
  args?: unknown;
  batch?: unknown;
}

function groupInputs(study: Study): Map<string, GroupInput> {
  const resources = (study.merlin?.['resources'] ?? {}) as { workers?: Record<string, GroupInput> | null };
  const groups = new Map(Object.entries(resources.workers ?? {}));
  const named = new Set([...groups.values()].flatMap((g) => (Array.isArray(g.steps) ? g.steps : ['all'])));
  const unassigned = named.has('all') ? [] : study.steps.map((s) => s.name).filter((n) => !named.has(n));
  if (groups.size > 0 && unassigned.length > 0 && !groups.has(DEFAULT_WORKER_GROUP))
    groups.set(DEFAULT_WORKER_GROUP, { steps: unassigned });
  return groups;
}

/** The names of the spec's worker groups, `default_worker` included when Merlin would add it. */
export function workerGroupNames(study: Study): string[] {
  return [...groupInputs(study).keys()];
}

/** Group `name` of the spec. Throws AllocationError for an unknown name, listing the groups. */
export function resolveWorkerGroup(study: Study, x: ExpandedStudy, name: string): WorkerGroup {
  const groups = groupInputs(study);
  const input = groups.get(name);
  if (!input) {
    const known = [...groups.keys()];
    throw new AllocationError(
      AllocationErrorCode.Invalid,
      known.length === 0
        ? `--group: the spec defines no worker groups (merlin.resources.workers)`
        : `--group: the spec has no worker group '${name}'; its groups are: ${known.join(', ')}`,
    );
  }
  const written = Array.isArray(input.steps) ? (input.steps as unknown[]).map(String) : ['all'];
  // Parsing refused names that are no step (check-merlin-workers.ts in @maestro/spec).
  const names = x.steps.map((s) => s.name);
  const steps = written.includes('all') ? names : names.filter((n) => written.includes(n));
  const queues = new Set<string>();
  x.steps.forEach((s, k) => {
    if (!steps.includes(s.name)) return;
    const count = settingsVaryByInstance(x, k) ? s.instanceCount : Math.min(1, s.instanceCount);
    for (let j = 0; j < count; j++) queues.add(jobSettingsOf(x, x.instance(s.firstInstance + j)).queue);
  });
  if (queues.size === 0) queues.add(DEFAULT_QUEUE);
  const batch = input.batch && typeof input.batch === 'object' ? (input.batch as Record<string, unknown>) : {};
  return {
    name,
    steps,
    queues: [...queues],
    nodes: typeof input.nodes === 'number' ? input.nodes : undefined,
    batch: { ...study.batch.settings, ...batch },
    concurrency: concurrencyOf(input.args),
  };
}

/** `--concurrency N`, `--concurrency=N` or `-c N` in celery worker args. */
function concurrencyOf(args: unknown): number | undefined {
  if (typeof args !== 'string') return undefined;
  const m = /(?:^|\s)(?:--concurrency[=\s]+|-c\s*)(\d+)(?=\s|$)/.exec(args);
  return m ? Number(m[1]) : undefined;
}
