// The flow DSL as the console draws it (docs/dsl.md): nodes with their type and alias, edges with labelled branch
// handles, iteration bodies (the part of the graph reachable from an iteration's start node) as groups, and the
// start node's declared outputs, which become the run form.

export interface DslSchema {
  type?: string;
  default?: unknown;
  description?: string;
  value?: { type: "ref" | "literal"; content: unknown };
}

export interface DslVar {
  id?: string;
  name: string;
  required?: boolean;
  schema?: DslSchema;
  fileType?: string;
  allowedFileType?: string[];
}

export interface DslNode {
  id: string;
  data: {
    nodeMeta?: { nodeType?: string; aliasName?: string };
    inputs?: DslVar[];
    outputs?: DslVar[];
    nodeParam?: Record<string, unknown> | null;
    retryConfig?: Record<string, unknown>;
  };
}

export interface DslEdge {
  sourceNodeId: string;
  targetNodeId: string;
  sourceHandle?: string;
}

export interface Dsl {
  nodes: DslNode[];
  edges: DslEdge[];
}

/** The DSL of a stored flow record: an envelope `{data: {nodes, edges}}` or a bare `{nodes, edges}`. */
export function dslOf(data: unknown): Dsl {
  const d = data as { data?: Dsl; nodes?: DslNode[]; edges?: DslEdge[] } | null;
  const inner = d?.data && Array.isArray(d.data.nodes) ? d.data : d;
  return {
    nodes: Array.isArray(inner?.nodes) ? inner.nodes : [],
    edges: Array.isArray(inner?.edges) ? inner.edges : [],
  };
}

export const typeOf = (nodeId: string): string => nodeId.split(":")[0] ?? nodeId;

/**
 * A short label and a glyph per node type (the glyph also tells types apart without colour); all in DejaVu Sans, the
 * font a bare Debian has, so none shows as a missing-glyph box.
 */
const TYPES: Record<string, { label: string; glyph: string; shape: "pill" | "rect" | "diamond" | "hex" | "doc" }> = {
  "node-start": { label: "Start", glyph: "▶", shape: "pill" },
  "node-end": { label: "End", glyph: "■", shape: "pill" },
  message: { label: "Message", glyph: "✉", shape: "doc" },
  "text-joiner": { label: "Text joiner", glyph: "≡", shape: "rect" },
  "if-else": { label: "If / else", glyph: "⎇", shape: "diamond" },
  "decision-making": { label: "Decision", glyph: "◆", shape: "diamond" },
  "question-answer": { label: "Question", glyph: "?", shape: "hex" },
  iteration: { label: "Iteration", glyph: "↻", shape: "rect" },
  "iteration-node-start": { label: "Body start", glyph: "▷", shape: "pill" },
  "iteration-node-end": { label: "Body end", glyph: "□", shape: "pill" },
  "spark-llm": { label: "LLM", glyph: "✦", shape: "rect" },
  "extractor-parameter": { label: "Extractor", glyph: "⊕", shape: "rect" },
  agent: { label: "Agent", glyph: "☉", shape: "rect" },
  flow: { label: "Sub-flow", glyph: "⇲", shape: "rect" },
  "ifly-code": { label: "Code", glyph: "{}", shape: "rect" },
  "node-variable": { label: "Variables", glyph: "$", shape: "rect" },
  "knowledge-base": { label: "Knowledge", glyph: "⌕", shape: "rect" },
  "knowledge-pro-base": { label: "Knowledge pro", glyph: "⌕", shape: "rect" },
  plugin: { label: "Tool", glyph: "⚒", shape: "rect" },
  rpa: { label: "RPA", glyph: "⚙", shape: "rect" },
  database: { label: "Database", glyph: "⛁", shape: "rect" },
};

export function typeInfo(nodeId: string): { label: string; glyph: string; shape: string } {
  const t = typeOf(nodeId);
  return TYPES[t] ?? { label: t, glyph: "•", shape: "rect" };
}

export const aliasOf = (n: DslNode): string => n.data.nodeMeta?.aliasName || typeInfo(n.id).label;

/** The label of an edge's branch handle: the if-else case, decision intent or question option it belongs to. */
export function handleLabel(source: DslNode | undefined, handle: string | undefined): string {
  if (!handle) return "";
  const h = handle.replace(/^intent_chain\|/, "");
  if (h.includes("fail_one_of")) return "on failure";
  const p = (source?.data.nodeParam ?? {}) as Record<string, unknown>;
  const cases = Array.isArray(p.cases) ? (p.cases as { id?: string; level?: number }[]) : [];
  const ci = cases.findIndex((c) => c.id === h);
  if (ci >= 0) return cases[ci]?.level === 999 ? "else" : ci === 0 ? "if" : `else if ${ci}`;
  const intents = Array.isArray(p.intentChains) ? (p.intentChains as { id?: string; name?: string }[]) : [];
  const intent = intents.find((i) => i.id === h);
  if (intent) return intent.name || "intent";
  const options = Array.isArray(p.optionAnswer) ? (p.optionAnswer as { id?: string; name?: string }[]) : [];
  const option = options.find((o) => o.id === h);
  if (option) return `option ${option.name ?? ""}`.trim();
  return h.length > 16 ? `${h.slice(0, 14)}…` : h;
}

/** Iteration id → the ids of its body (everything reachable from its IterationStartNodeId). */
export function iterationBodies(dsl: Dsl): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const next = new Map<string, string[]>();
  for (const e of dsl.edges) next.set(e.sourceNodeId, [...(next.get(e.sourceNodeId) ?? []), e.targetNodeId]);
  for (const n of dsl.nodes) {
    if (typeOf(n.id) !== "iteration") continue;
    const start = (n.data.nodeParam as { IterationStartNodeId?: unknown } | null)?.IterationStartNodeId;
    if (typeof start !== "string") continue;
    const body = new Set<string>();
    const todo = [start];
    while (todo.length) {
      const id = todo.pop() as string;
      if (body.has(id) || id === n.id) continue;
      body.add(id);
      todo.push(...(next.get(id) ?? []));
    }
    out.set(n.id, body);
  }
  return out;
}

export function startNode(dsl: Dsl): DslNode | undefined {
  return dsl.nodes.find((n) => typeOf(n.id) === "node-start");
}

/** Keys of node parameters that hold credentials: shown masked. */
const SECRET = /(api_?key|api_?secret|secret|token|password|authorization)/i;

export function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET.test(k) && typeof v === "string" && v !== "" ? "••••••" : masked(v),
      ]),
    );
  return value;
}
