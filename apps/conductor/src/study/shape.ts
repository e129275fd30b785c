/** What the shape of an expanded study says about running it: its queues, and how wide it is. */
import { DEFAULT_QUEUE } from '@maestro/protocol';
import type { ExpandedStep } from '@maestro/spec';

/** Every queue a step of the study is sent to: the default one, and each step's `task_queue`. */
export function studyQueues(steps: readonly Pick<ExpandedStep, 'run'>[]): string[] {
  const names = new Set<string>([DEFAULT_QUEUE]);
  for (const s of steps) if (typeof s.run.task_queue === 'string') names.add(s.run.task_queue);
  return [...names];
}

/**
 * How many instances may run at once, near enough to size local workers by: the most instances
 * on one level, a step's level being one more than its deepest parent's. Each level can run all
 * at once, so the study is at least this wide; a child can start while its parent's other
 * instances still run, so it can be wider, but a study whose levels are all narrow (a chain, a
 * few steps) stays narrow.
 */
export function studyWidth(
  steps: readonly Pick<ExpandedStep, 'parents' | 'funnelParents' | 'instanceCount'>[],
): number {
  const levels: number[] = [];
  const levelOf = (s: number): number => {
    let level = levels[s];
    if (level === undefined) {
      const step = steps[s]!;
      level = 0;
      for (const p of [...step.parents, ...step.funnelParents]) level = Math.max(level, levelOf(p) + 1);
      levels[s] = level;
    }
    return level;
  };
  const perLevel = new Map<number, number>();
  steps.forEach((step, s) => {
    const level = levelOf(s);
    perLevel.set(level, (perLevel.get(level) ?? 0) + step.instanceCount);
  });
  return Math.max(0, ...perLevel.values());
}
