// compile: DSL → Plan (spec §4.10, §6.1). The plan is plain JSON: cacheable, storable, sent over RPC.
// Everything here is linear or near-linear in nodes + edges: no path enumeration (spec §11.6).
import { Codes } from "./codes.ts";
import { nodeTypeOf, parseDsl, type DslNode, type DslRetry } from "./dsl.ts";
import { WorkflowError } from "./errors.ts";
import type { AnswerSpec, Plugin } from "./plugin.ts";
import { clipText } from "./preview.ts";
import type { Registry } from "./registry.ts";
import { isDeclaredOutput, splitRefPath } from "./refs.ts";
import { checkCustomOutput } from "./schema.ts";
import type { InputSpec, JsonSchema, OutputSpec, RetryPolicy } from "./types.ts";
import { coerceLiteral } from "./values.ts";

export const PLAN_VERSION = 2;

export type PlanInput = InputSpec & {
  /** ref inputs: index of the referenced node (compile refuses a ref to a node that is not in the flow) */
  ref?: number;
  /** ref inputs: the dotted path pre-split */
  segments?: string[];
};

export interface PlanNode {
  id: string;
  type: string;
  alias: string;
  /** nodeMeta.nodeType, a UI label echoed by node debug */
  nodeType: string;
  params: unknown;
  inputs: PlanInput[];
  outputs: OutputSpec[];
  retry: RetryPolicy;
  stream: boolean;
  /** outputs of a stream source that are not streamed: a reference waits for their value (spec §5.13 `result`) */
  quiet?: string[];
  branch: boolean;
  retryable: boolean;
  idempotent: boolean;
  errorCode: number;
  answer?: AnswerSpec;
  /** edge indices */
  in: number[];
  out: number[];
  /** -1: main graph; otherwise the index of the iteration node that owns this inner node; -2: unreachable */
  scope: number;
  /** iteration nodes: index of the inner start node and inner end node */
  innerStart?: number;
  innerEnd?: number;
  /** output nodes: gate nodes before it (spec §6.1 step 5) */
  gatesBefore?: number[];
  /** output nodes: nodes its ref inputs read */
  sources?: number[];
  /** any node: output nodes to launch early just before this node starts (spec §6.6.1) */
  launchBefore?: number[];
}

export interface PlanEdge {
  from: number;
  to: number;
  /** the source handle without its `intent_chain|` prefix */
  handle: string;
  /** an error-branch edge (`fail_one_of`) */
  fail: boolean;
}

export interface Plan {
  version: number;
  nodes: PlanNode[];
  edges: PlanEdge[];
  start: number;
  end: number;
  /** the end node's outputMode (spec §5.4) */
  answerMode: 0 | 1;
  /** main-graph nodes in topological order (progress, spec §6.9) */
  topo: number[];
}

// spec §6.1 step 5; any branch node counts too, so a plugin that branches is a gate without being listed here
const GATE_TYPES = new Set(["message", "node-end", "if-else", "decision-making", "question-answer"]);

function fail(code: number, detail: string): never {
  throw WorkflowError.of(code, detail);
}

export function compile(dsl: unknown, registry: Registry): Plan {
  const graph = parseDsl(dsl);
  const n = graph.nodes.length;
  const index = new Map<string, number>();
  const plugins: Plugin<unknown>[] = new Array(n);
  const nodes: PlanNode[] = new Array(n);

  for (let i = 0; i < n; i++) {
    const raw = graph.nodes[i] as DslNode;
    if (index.has(raw.id)) fail(Codes.ENG_BUILD_ERROR, `duplicate node id ${clipText(raw.id)}`);
    index.set(raw.id, i);
    const type = nodeTypeOf(raw.id);
    const plugin = registry.get(type);
    plugins[i] = plugin;
    nodes[i] = buildNode(raw, type, plugin);
  }

  const edges = graph.edges.map((e) => {
    const from = index.get(e.sourceNodeId);
    if (from === undefined) fail(Codes.ENG_BUILD_ERROR, `Node not found ${clipText(e.sourceNodeId)}`);
    const to = index.get(e.targetNodeId);
    if (to === undefined) fail(Codes.ENG_BUILD_ERROR, `Node not found ${clipText(e.targetNodeId)}`);
    let handle = e.sourceHandle ?? "";
    if (handle.startsWith("intent_chain|")) handle = handle.slice("intent_chain|".length);
    return { from, to, handle, fail: handle.includes("fail_one_of") };
  });
  for (let k = 0; k < edges.length; k++) {
    const e = edges[k] as PlanEdge;
    (nodes[e.from] as PlanNode).out.push(k);
    (nodes[e.to] as PlanNode).in.push(k);
  }

  // Refs: resolve node indices once.
  for (const node of nodes) {
    for (const input of node.inputs) {
      if (input.kind === "ref") input.ref = index.get(input.nodeId) ?? -1;
    }
  }

  const position = checkAcyclic(nodes, edges);

  // Start and end of the main graph (spec §4.10 [new]: exactly one of each).
  const starts = nodes.filter((x) => x.type === "node-start");
  if (starts.length !== 1) {
    fail(
      Codes.ENG_RUN_ERROR,
      starts.length === 0 ? "the flow has no start node" : "the flow has more than one start node",
    );
  }
  const start = index.get((starts[0] as PlanNode).id) as number;
  const main = reach(nodes, edges, start);
  for (const i of main) (nodes[i] as PlanNode).scope = -1;

  // Inner graphs of iteration nodes (spec §5.18): reachable from their inner start, never from the main graph.
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as PlanNode;
    const innerId = (plugins[i] as Plugin<unknown>).innerStart?.(node.params);
    if (innerId === undefined) continue;
    const s = index.get(innerId);
    if (s === undefined)
      fail(
        Codes.ENG_BUILD_ERROR,
        `node ${clipText(node.id)}: nodeParam.IterationStartNodeId: Node not found ${clipText(innerId)}`,
      );
    node.innerStart = s;
    for (const j of reach(nodes, edges, s)) {
      const inner = nodes[j] as PlanNode;
      if (inner.scope !== -2) fail(Codes.ENG_BUILD_ERROR, `node ${clipText(inner.id)} belongs to more than one graph`);
      inner.scope = i;
      if (inner.type === "iteration-node-end") node.innerEnd = j;
    }
    if (node.innerEnd === undefined) {
      fail(
        Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
        `iteration ${clipText(node.id)} has no iteration-node-end in its inner graph`,
      );
    }
  }

  const ends = nodes.filter((x) => x.type === "node-end" && x.scope === -1);
  if (ends.length !== 1) {
    fail(Codes.ENG_RUN_ERROR, ends.length === 0 ? "the flow has no end node" : "the flow has more than one end node");
  }
  const endNode = ends[0] as PlanNode;
  const end = index.get(endNode.id) as number;

  checkBranchHandles(nodes, edges, plugins);
  checkRefs(nodes, edges, position);

  markGatesAndSources(nodes, edges);

  return {
    version: PLAN_VERSION,
    nodes,
    edges,
    start,
    end,
    answerMode: endNode.answer?.mode ?? 1,
    topo: topoOrder(nodes, edges, main),
  };
}

export function buildNode(raw: DslNode, type: string, plugin: Plugin<unknown>): PlanNode {
  const where = `node ${clipText(raw.id)}`;
  const parsed = plugin.params.safeParse(raw.data.nodeParam ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length ? `nodeParam.${clipText(issue.path.join("."))}` : "nodeParam";
    fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: ${field}: ${issue?.message ?? "invalid"}`);
  }
  const params = parsed.data;

  const outputs: OutputSpec[] = raw.data.outputs.map((o) => {
    const spec: OutputSpec = { name: o.name, schema: o.schema as JsonSchema, required: o.required ?? false };
    if (o.fileType !== undefined && o.fileType !== null) spec.fileType = o.fileType;
    if (o.allowedFileType) spec.allowedFileType = o.allowedFileType;
    return spec;
  });

  const inputs: PlanInput[] = [];
  for (const item of raw.data.inputs) {
    const schema = item.schema as JsonSchema;
    const base = item.id === undefined ? { name: item.name } : { id: item.id, name: item.name };
    const v = item.schema.value;
    if (v.type === "literal") {
      const value = coerceLiteral(v.content, item.schema.type, `${where} input ${clipText(item.name)}`);
      inputs.push({ ...base, type: item.schema.type, schema, kind: "literal", value });
      continue;
    }
    const { nodeId, name } = v.content;
    if (!nodeId || !name) {
      // spec §4.3 [new]: reject empty refs, except the placeholders the console leaves on an iteration's end node
      if (type === "iteration-node-end") continue;
      fail(
        Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
        `${where}: input ${clipText(item.name)} has a ref without nodeId/name`,
      );
    }
    inputs.push({
      ...base,
      type: item.schema.type,
      schema,
      kind: "ref",
      nodeId,
      path: name,
      segments: splitRefPath(name),
    });
  }

  const retryable = plugin.retryable === true;
  const retry = buildRetry(raw.data.retryConfig ?? undefined, where, outputs);
  const node: PlanNode = {
    id: raw.id,
    type,
    alias: raw.data.nodeMeta.aliasName,
    nodeType: raw.data.nodeMeta.nodeType,
    params,
    inputs,
    outputs,
    retry,
    stream: typeof plugin.streams === "function" ? plugin.streams(params) : plugin.streams === true,
    ...(plugin.quietOutputs?.length ? { quiet: [...plugin.quietOutputs] } : {}),
    branch: typeof plugin.branches === "function" ? plugin.branches(params) : plugin.branches === true,
    retryable,
    idempotent: plugin.idempotent === true,
    errorCode: plugin.errorCode ?? Codes.NODE_RUN_ERROR,
    in: [],
    out: [],
    scope: -2,
  };
  if (plugin.answer) node.answer = plugin.answer(params);
  plugin.check?.(params, { id: raw.id, type, inputs: raw.data.inputs, outputs });
  return node;
}

/** spec §4.6: both spellings, camelCase wins; defaults timeout 60, off, 0 retries, strategy 0. */
function buildRetry(rc: DslRetry | undefined, where: string, outputs: OutputSpec[]): RetryPolicy {
  const pick = <T>(a: T | undefined, b: T | undefined, d: T): T => (a !== undefined ? a : b !== undefined ? b : d);
  const timeout = pick(rc?.timeout, undefined, 60);
  const maxRetries = pick(rc?.maxRetries, rc?.max_retries, 0);
  const strategy = pick(rc?.errorStrategy, rc?.error_strategy, 0);
  if (!Number.isFinite(timeout) || timeout <= 0)
    fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: retryConfig.timeout must be > 0`);
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 10) {
    fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: retryConfig.maxRetries must be an integer 0..10`);
  }
  if (strategy !== 0 && strategy !== 1 && strategy !== 2) {
    fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: retryConfig.errorStrategy must be 0, 1 or 2`);
  }
  let custom: unknown = pick(rc?.customOutput, rc?.custom_output, undefined) ?? {};
  if (typeof custom === "string") {
    try {
      custom = custom.trim() === "" ? {} : JSON.parse(custom);
    } catch {
      fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: retryConfig.customOutput is not JSON`);
    }
  }
  if (typeof custom !== "object" || custom === null || Array.isArray(custom)) {
    fail(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${where}: retryConfig.customOutput must be an object`);
  }
  const customOutput = checkCustomOutput(where, custom as Record<string, unknown>, outputs);
  return {
    timeout,
    shouldRetry: pick(rc?.shouldRetry, rc?.should_retry, false),
    maxRetries,
    errorStrategy: strategy,
    customOutput,
  };
}

/**
 * Kahn's algorithm over every edge: a cycle is 22300 (spec §4.10 [new]). Returns each node's position in that
 * topological order: a node can only reach nodes at later positions, which makes the ref check below cheap.
 */
function checkAcyclic(nodes: PlanNode[], edges: PlanEdge[]): Int32Array {
  const indeg = new Int32Array(nodes.length);
  for (const e of edges) indeg[e.to] = (indeg[e.to] as number) + 1;
  const queue: number[] = [];
  for (let i = 0; i < nodes.length; i++) if (indeg[i] === 0) queue.push(i);
  const position = new Int32Array(nodes.length);
  for (let h = 0; h < queue.length; h++) {
    position[queue[h] as number] = h;
    for (const k of (nodes[queue[h] as number] as PlanNode).out) {
      const t = (edges[k] as PlanEdge).to;
      if ((indeg[t] = (indeg[t] as number) - 1) === 0) queue.push(t);
    }
  }
  if (queue.length !== nodes.length) {
    const stuck = nodes.find((_, i) => (indeg[i] as number) > 0);
    fail(Codes.ENG_BUILD_ERROR, `the flow has a cycle through ${clipText(stuck?.id ?? "?")}`);
  }
  return position;
}

/**
 * spec §4.10 [new] SHOULD: an edge leaving a branch node (if-else case, decision intent, question-answer option)
 * must carry one of the handles the node can choose; any other edge could never be taken, and the run would end in
 * 22301 "Branch not found" when the case it was meant for wins. Fail edges are the error strategy's, not a branch.
 * A case without an edge stays valid (a draft may leave a branch unconnected; the run reports it if it is chosen).
 */
function checkBranchHandles(nodes: PlanNode[], edges: PlanEdge[], plugins: Plugin<unknown>[]): void {
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as PlanNode;
    const handles = node.branch ? (plugins[i] as Plugin<unknown>).handles?.(node.params) : undefined;
    if (handles === undefined || node.out.length === 0) continue;
    const ids = new Set(handles.ids);
    for (const k of node.out) {
      const e = edges[k] as PlanEdge;
      if (e.fail || ids.has(e.handle)) continue;
      const shown = e.handle === "" ? "no handle" : `handle ${clipText(e.handle)}`;
      fail(
        Codes.ENG_BUILD_ERROR,
        `node ${clipText(node.id)}: the edge to ${clipText((nodes[e.to] as PlanNode).id)} has ${shown}, which matches no id in ${handles.field}`,
      );
    }
  }
}

/**
 * spec §4.10 [new] SHOULD: every ref names a node of the flow (22300) and one of its declared outputs or the
 * implicit errorCode/errorMessage (22101), and that node is visible where the ref is read (22300):
 *   - never the node itself nor a node that runs after it (reachable from it by edges): its value would not exist
 *     yet, or would be the default of an earlier run order;
 *   - a node inside an iteration's body reads nodes of that body, or nodes outside that do not run after the
 *     iteration (the iteration node included); a node outside never reads a body node, whose variables live only
 *     in the iteration's copy of the pool (spec §5.18).
 * Refs across parallel branches (neither before nor after the reader) stay valid: real flows use them, and the
 * reader then sees the other branch's value or its defaults (spec §6.5: a skipped node yields its defaults).
 */
function checkRefs(nodes: PlanNode[], edges: PlanEdge[], position: Int32Array): void {
  const mark = new Int32Array(nodes.length).fill(-1);
  let stamp = 0;
  /** whether `from` reaches `to` by edges; only nodes before `to` in topological order can lie on such a path */
  const reaches = (from: number, to: number): boolean => {
    const limit = position[to] as number;
    if ((position[from] as number) > limit) return false;
    const s = stamp++;
    const stack = [from];
    mark[from] = s;
    while (stack.length) {
      const v = stack.pop() as number;
      for (const k of (nodes[v] as PlanNode).out) {
        const t = (edges[k] as PlanEdge).to;
        if (t === to) return true;
        if (mark[t] === s || (position[t] as number) > limit) continue;
        mark[t] = s;
        stack.push(t);
      }
    }
    return false;
  };
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as PlanNode;
    for (const input of node.inputs) {
      if (input.kind !== "ref") continue;
      const where = `node ${clipText(node.id)}: input ${clipText(input.name)}`;
      const r = input.ref ?? -1;
      if (r < 0) fail(Codes.ENG_BUILD_ERROR, `${where}: Node not found ${clipText(input.nodeId)}`);
      const source = nodes[r] as PlanNode;
      const output = input.segments?.[0] ?? input.path;
      if (!isDeclaredOutput(source.outputs, output)) {
        fail(
          Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
          `${where}: node ${clipText(source.id)} has no output ${clipText(output)}`,
        );
      }
      // a node reachable neither from the start nor from an iteration's start never runs: its refs read nothing
      if (node.scope === -2) continue;
      if (source.scope >= 0 && source.scope !== node.scope) {
        const owner = clipText((nodes[source.scope] as PlanNode).id);
        fail(
          Codes.ENG_BUILD_ERROR,
          `${where}: node ${clipText(source.id)} is inside iteration ${owner} and not visible here`,
        );
      }
      if (r === i) fail(Codes.ENG_BUILD_ERROR, `${where}: the node refers to itself`);
      // run order is judged from the reader, or from its iteration when the source is outside the iteration's body
      const reader = node.scope >= 0 && source.scope !== node.scope ? node.scope : i;
      if (r !== reader && reaches(reader, r)) {
        fail(
          Codes.ENG_BUILD_ERROR,
          `${where}: node ${clipText(source.id)} runs after it, so its value does not exist yet`,
        );
      }
    }
  }
}

function reach(nodes: PlanNode[], edges: PlanEdge[], from: number): number[] {
  const seen = new Uint8Array(nodes.length);
  const order = [from];
  seen[from] = 1;
  for (let h = 0; h < order.length; h++) {
    for (const k of (nodes[order[h] as number] as PlanNode).out) {
      const t = (edges[k] as PlanEdge).to;
      if (!seen[t]) {
        seen[t] = 1;
        order.push(t);
      }
    }
  }
  return order;
}

function topoOrder(nodes: PlanNode[], edges: PlanEdge[], members: number[]): number[] {
  const inScope = new Uint8Array(nodes.length);
  for (const i of members) inScope[i] = 1;
  const indeg = new Int32Array(nodes.length);
  for (const e of edges) if (inScope[e.from] && inScope[e.to]) indeg[e.to] = (indeg[e.to] as number) + 1;
  const order: number[] = [];
  for (const i of members) if (indeg[i] === 0) order.push(i);
  for (let h = 0; h < order.length; h++) {
    for (const k of (nodes[order[h] as number] as PlanNode).out) {
      const t = (edges[k] as PlanEdge).to;
      if (inScope[t] && (indeg[t] = (indeg[t] as number) - 1) === 0) order.push(t);
    }
  }
  return order;
}

/**
 * spec §6.1 step 5: gate nodes before each output node, and the sources of its refs; plus, per source, the output
 * nodes to launch early (a path from the source to the output node that uses no fail edge, §6.6.1).
 * Cost: one backward walk per output node and one forward walk per (source, output node) pair.
 */
function markGatesAndSources(nodes: PlanNode[], edges: PlanEdge[]): void {
  const n = nodes.length;
  const isGate = new Uint8Array(n);
  const hasInnerMessage = new Uint8Array(n);
  for (const node of nodes) {
    if (node.scope >= 0 && node.type === "message") hasInnerMessage[node.scope] = 1;
  }
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as PlanNode;
    if (
      GATE_TYPES.has(node.type) ||
      node.branch ||
      (node.type === "iteration" && hasInnerMessage[i]) ||
      (node.retryable && node.retry.shouldRetry && node.retry.errorStrategy === 2)
    ) {
      isGate[i] = 1;
    }
  }
  const mark = new Int32Array(n).fill(-1);
  let stamp = 0;
  for (let m = 0; m < n; m++) {
    const node = nodes[m] as PlanNode;
    if (!node.answer || node.scope === -2) continue;
    // gate ancestors
    const gates: number[] = [];
    const stack = [m];
    const s1 = stamp++;
    mark[m] = s1;
    while (stack.length) {
      const v = stack.pop() as number;
      for (const k of (nodes[v] as PlanNode).in) {
        const u = (edges[k] as PlanEdge).from;
        if (mark[u] === s1) continue;
        mark[u] = s1;
        if (isGate[u]) gates.push(u);
        stack.push(u);
      }
    }
    node.gatesBefore = gates.sort((a, b) => a - b);
    // sources and early launch
    const sources: number[] = [];
    for (const input of node.inputs) {
      if (input.kind !== "ref" || input.ref === undefined || input.ref < 0 || sources.includes(input.ref)) continue;
      sources.push(input.ref);
    }
    node.sources = sources;
    for (const s of sources) {
      if (reachesWithoutFail(nodes, edges, s, m, mark, stamp++)) {
        const src = nodes[s] as PlanNode;
        (src.launchBefore ??= []).push(m);
      }
    }
  }
}

function reachesWithoutFail(
  nodes: PlanNode[],
  edges: PlanEdge[],
  from: number,
  to: number,
  mark: Int32Array,
  s: number,
): boolean {
  const stack = [from];
  mark[from] = s;
  while (stack.length) {
    const v = stack.pop() as number;
    if (v === to) return true;
    for (const k of (nodes[v] as PlanNode).out) {
      const e = edges[k] as PlanEdge;
      if (e.fail || mark[e.to] === s) continue;
      mark[e.to] = s;
      stack.push(e.to);
    }
  }
  return false;
}
