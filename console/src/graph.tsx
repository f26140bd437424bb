// A flow as a picture: the DAG laid out by dagre (left to right; iteration bodies as compound groups), drawn as SVG.
// One shape per node type with its glyph and alias name, branch handles labelled on their edges, and each node's run
// state as colour, icon and text. Nodes are focusable buttons: Enter/Space (or a click) selects one.
import { Graph, layout } from "@dagrejs/dagre";
import type { JSX } from "preact";
import { useMemo } from "preact/hooks";
import { aliasOf, handleLabel, iterationBodies, typeInfo, typeOf, type Dsl } from "./dsl.ts";
import { STATUS_TEXT, type NodeStatus } from "./run-state.ts";

const W = 176;
const H = 56;

interface Laid {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number; alias: string; type: string }[];
  edges: { points: { x: number; y: number }[]; label: string; dashed: boolean; lx: number; ly: number }[];
  groups: { id: string; x: number; y: number; w: number; h: number; label: string }[];
}

function lay(dsl: Dsl): Laid {
  const g = new Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 64, marginx: 16, marginy: 16 });
  const byId = new Map(dsl.nodes.map((n) => [n.id, n]));
  for (const n of dsl.nodes) g.setNode(n.id, { width: W, height: H });
  const bodies = iterationBodies(dsl);
  for (const [iter, body] of bodies) {
    const group = `group:${iter}`;
    g.setNode(group, { width: 0, height: 0 });
    for (const id of body) if (byId.has(id)) g.setParent(id, group);
  }
  dsl.edges.forEach((e, i) => {
    if (!byId.has(e.sourceNodeId) || !byId.has(e.targetNodeId)) return;
    const label = handleLabel(byId.get(e.sourceNodeId), e.sourceHandle);
    g.setEdge(
      e.sourceNodeId,
      e.targetNodeId,
      { label, width: label ? label.length * 6.5 + 8 : 0, height: label ? 16 : 0, labelpos: "c" },
      `e${i}`,
    );
  });
  // an iteration leads into its body: drawn dashed
  for (const [iter, body] of bodies) {
    const start = (byId.get(iter)?.data.nodeParam as { IterationStartNodeId?: string } | null)?.IterationStartNodeId;
    if (start && body.has(start) && byId.has(start))
      g.setEdge(iter, start, { label: "each item", width: 62, height: 16, labelpos: "c", body: true }, `body:${iter}`);
  }
  layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  const out: Laid = { width: graph.width ?? 0, height: graph.height ?? 0, nodes: [], edges: [], groups: [] };
  for (const n of dsl.nodes) {
    const p = g.node(n.id) as { x: number; y: number };
    out.nodes.push({ id: n.id, x: p.x, y: p.y, alias: aliasOf(n), type: typeOf(n.id) });
  }
  for (const [iter] of bodies) {
    const p = g.node(`group:${iter}`) as { x: number; y: number; width: number; height: number } | undefined;
    if (p?.width)
      out.groups.push({
        id: iter,
        x: p.x - p.width / 2,
        y: p.y - p.height / 2,
        w: p.width,
        h: p.height,
        label: `${aliasOf(byId.get(iter) ?? { id: iter, data: {} })} body`,
      });
  }
  for (const e of g.edges()) {
    const l = g.edge(e) as { points?: { x: number; y: number }[]; label?: string; x?: number; y?: number; body?: true };
    out.edges.push({ points: l.points ?? [], label: l.label ?? "", dashed: !!l.body, lx: l.x ?? 0, ly: l.y ?? 0 });
  }
  return out;
}

function shape(kind: string, status: NodeStatus | undefined): JSX.Element {
  const cls = `shape ${status ? `st-${status}` : ""}`;
  const x = -W / 2;
  const y = -H / 2;
  if (kind === "diamond")
    return (
      <polygon class={cls} points={`${x + 14},${y} ${-x - 14},${y} ${-x},0 ${-x - 14},${-y} ${x + 14},${-y} ${x},0`} />
    );
  if (kind === "hex")
    return (
      <polygon
        class={cls}
        points={`${x + 10},${y} ${-x - 10},${y} ${-x},${y + 10} ${-x},${-y - 10} ${-x - 10},${-y} ${x + 10},${-y} ${x},${-y - 10} ${x},${y + 10}`}
      />
    );
  if (kind === "doc") return <path class={cls} d={`M${x},${y} H${-x - 14} L${-x},${y + 14} V${-y} H${x} Z`} />;
  return <rect class={cls} x={x} y={y} width={W} height={H} rx={kind === "pill" ? H / 2 : 8} />;
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function FlowGraph(props: {
  dsl: Dsl;
  states?: Record<string, NodeStatus>;
  selected?: string | null;
  onSelect?: (id: string) => void;
  label: string;
}): JSX.Element {
  const laid = useMemo(() => lay(props.dsl), [props.dsl]);
  const states = props.states;
  return (
    <figure class="graph" aria-label={props.label}>
      <svg
        width={Math.max(laid.width, 200)}
        height={Math.max(laid.height, 80)}
        viewBox={`0 0 ${Math.max(laid.width, 200)} ${Math.max(laid.height, 80)}`}
        role="group"
        aria-label={props.label}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
          </marker>
        </defs>
        {laid.groups.map((gr) => (
          <g class="group" key={gr.id}>
            <rect x={gr.x} y={gr.y} width={gr.w} height={gr.h} rx={12} />
            <text x={gr.x + 10} y={gr.y + 14}>
              {gr.label}
            </text>
          </g>
        ))}
        {laid.edges.map((e, i) => (
          <g class={`edge${e.dashed ? " dashed" : ""}`} key={i}>
            <polyline points={e.points.map((p) => `${p.x},${p.y}`).join(" ")} marker-end="url(#arrow)" />
            {e.label ? (
              <g transform={`translate(${e.lx},${e.ly})`}>
                <rect x={-(e.label.length * 6.5 + 8) / 2} y={-8} width={e.label.length * 6.5 + 8} height={16} rx={4} />
                <text text-anchor="middle" dominant-baseline="central">
                  {e.label}
                </text>
              </g>
            ) : null}
          </g>
        ))}
        {laid.nodes.map((n) => {
          const info = typeInfo(n.id);
          const st = states ? (states[n.id] ?? "pending") : undefined;
          const stText = st ? STATUS_TEXT[st] : undefined;
          const select = (): void => props.onSelect?.(n.id);
          return (
            <g
              key={n.id}
              class={`node${props.selected === n.id ? " selected" : ""}`}
              transform={`translate(${n.x},${n.y})`}
              role="button"
              tabindex={0}
              data-node={n.id}
              data-state={st ?? ""}
              aria-pressed={props.selected === n.id}
              onClick={select}
              onKeyDown={(ev) => {
                if (ev.key === "Enter" || ev.key === " ") {
                  ev.preventDefault();
                  select();
                }
              }}
            >
              {shape(info.shape, st)}
              <text
                class="glyph"
                aria-hidden="true"
                x={-W / 2 + 18}
                y={0}
                text-anchor="middle"
                dominant-baseline="central"
              >
                {info.glyph}
              </text>
              <text class="alias" x={-W / 2 + 34} y={-8} dominant-baseline="central">
                {clip(n.alias, 18)}
              </text>
              {stText ? (
                <text class="state" x={-W / 2 + 34} y={12} dominant-baseline="central">
                  <tspan aria-hidden="true">{stText.icon} </tspan>
                  {stText.text}
                </text>
              ) : (
                <text class="kind" x={-W / 2 + 34} y={14} dominant-baseline="central">
                  {info.label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
