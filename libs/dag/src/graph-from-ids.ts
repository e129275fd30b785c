import { DagCycleError, DagDuplicateNodeError, DagUnknownNodeError } from './errors.js';
import { findCycle } from './find-cycle.js';
import { Graph } from './graph.js';

/** One named node and the names it depends on (its parents). */
export interface IdItem {
  readonly id: string;
  readonly dependsOn: readonly string[];
}

/** What {@link graphFromIds} returns. */
export interface IdGraph {
  /** Node `i` is `items[i]`; edges run from each dependency to its dependent. */
  readonly graph: Graph;
  /** `ids[i]` is the id of node `i` (the items' order). */
  readonly ids: readonly string[];
  /** Node number of each id. */
  readonly indexOf: ReadonlyMap<string, number>;
}

const MAX_LISTED_IDS = 20;

/**
 * Builds a graph from named items (e.g. study steps): node `i` is `items[i]`. For small graphs:
 * it keeps a `Map` and an array of strings. Repeated dependencies count once.
 * @throws DagUnknownNodeError naming an id in `dependsOn` that no item has.
 * @throws DagDuplicateNodeError if two items share an id.
 * @throws DagCycleError whose message names the cycle by id (`a -> b -> c -> a`); a self-dependency
 *   is the cycle `a -> a`.
 */
export function graphFromIds(items: readonly IdItem[]): IdGraph {
  const ids = items.map((item) => item.id);
  const indexOf = new Map<string, number>();
  ids.forEach((id, i) => {
    const first = indexOf.get(id);
    if (first !== undefined) {
      throw new DagDuplicateNodeError(
        id,
        `items[${i}]: id "${id}" is already used by items[${first}]; ids must be unique`,
      );
    }
    indexOf.set(id, i);
  });

  const parents: number[] = [];
  const children: number[] = [];
  items.forEach((item, child) => {
    item.dependsOn.forEach((dep, k) => {
      const parent = indexOf.get(dep);
      if (parent === undefined) {
        throw new DagUnknownNodeError(
          dep,
          `items[${child}] ("${item.id}").dependsOn[${k}]: unknown id "${dep}"; known ids: ${listIds(ids)}`,
        );
      }
      if (parent === child) throw new DagCycleError([child, child], ids);
      parents.push(parent);
      children.push(child);
    });
  });

  const graph = Graph.fromEdges(items.length, parents, children);
  const cycle = findCycle(graph);
  if (cycle) throw new DagCycleError(cycle, ids);
  return { graph, ids: Object.freeze(ids), indexOf };
}

function listIds(ids: readonly string[]): string {
  if (ids.length === 0) return '(none)';
  const shown = ids.slice(0, MAX_LISTED_IDS).map((id) => `"${id}"`);
  return ids.length > MAX_LISTED_IDS ? `${shown.join(', ')}, ... (${ids.length} in all)` : shown.join(', ');
}
