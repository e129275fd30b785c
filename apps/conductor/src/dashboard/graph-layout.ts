/**
 * The step-level DAG of a study laid out by dagre (a node per spec step, never one per instance),
 * so that the page only draws boxes and polylines where dagre put them.
 */
import { Graph, layout, type EdgeLabel, type GraphLabel, type NodeLabel } from '@dagrejs/dagre';

export interface StepNodeInput {
  readonly name: string;
  /** Indices of one-to-one parents. */
  readonly parents: readonly number[];
  /** Indices of funnel parents (`depends: [x_*]`): every instance of x before any of this step. */
  readonly funnelParents: readonly number[];
}

export interface LaidOutNode {
  readonly index: number;
  readonly name: string;
  /** Centre of the box. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface LaidOutEdge {
  readonly from: number;
  readonly to: number;
  /** A funnel edge: the child waits for every instance of the parent. */
  readonly funnel: boolean;
  readonly points: readonly { x: number; y: number }[];
}

export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly LaidOutNode[];
  readonly edges: readonly LaidOutEdge[];
}

const NODE_HEIGHT = 58;
const MIN_WIDTH = 200; // room for "12/100000 done · 9 active · 1 failed"
const CHAR_WIDTH = 8;

/** Lays the steps out top to bottom; box widths follow the step names. */
export function layoutStepGraph(steps: readonly StepNodeInput[]): GraphLayout {
  const g = new Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 30, ranksep: 50, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  steps.forEach((s, k) => {
    g.setNode(String(k), { width: Math.max(MIN_WIDTH, s.name.length * CHAR_WIDTH + 24), height: NODE_HEIGHT });
  });
  const edges: { from: number; to: number; funnel: boolean }[] = [];
  steps.forEach((s, k) => {
    for (const p of s.parents) edges.push({ from: p, to: k, funnel: false });
    for (const p of s.funnelParents) edges.push({ from: p, to: k, funnel: true });
  });
  for (const e of edges) g.setEdge(String(e.from), String(e.to));
  layout(g);
  const label = g.graph();
  return {
    width: Math.ceil(label.width ?? 0),
    height: Math.ceil(label.height ?? 0),
    nodes: steps.map((s, k) => {
      const n = g.node(String(k));
      return { index: k, name: s.name, x: n.x ?? 0, y: n.y ?? 0, width: n.width, height: n.height };
    }),
    edges: edges.map((e) => ({
      ...e,
      points: (g.edge(String(e.from), String(e.to))?.points ?? []).map((p: { x: number; y: number }) => ({
        x: p.x,
        y: p.y,
      })),
    })),
  };
}
