// spec §6.9: progress(node) = Σ over main paths p [p dead ? len(p) : index of node in p (0 if absent)] / Σ len(p).
// The original enumerates every path (exponential). Here the same sums come from path counting:
//   Σ len(p) over all paths                = toLen(start)
//   Σ over live paths through v of index   = depth(v) · to(v)
// with from/depth counted over live edges from the start, to/toLen over edges to the leaves. A path is dead when
// one of its edges is dead. Edges die in two ways: a decision (a branch, a fail edge) or propagation from a skipped
// node; only decisions create new dead paths, and at a decision on u→v nothing below v has settled yet, so the
// paths it kills number from(u)·to(v) with total length fromLen(u)·to(v) + from(u)·toLen(v), all known in O(1).
// Cost: O(nodes + edges) once per run, then O(degree) per node and O(1) per decision.
import type { Plan, PlanEdge, PlanNode } from "./compile.ts";

export class Progress {
  readonly #plan: Plan;
  readonly #inMain: Uint8Array;
  /** static: paths from v to a leaf, and their summed lengths (in nodes, v included) */
  readonly #to: Float64Array;
  readonly #toLen: Float64Array;
  /** live: paths from the start to v, and Σ over them of the nodes before v */
  readonly #from: Float64Array;
  readonly #depth: Float64Array;
  readonly #known: Uint8Array;
  readonly #edgeDead: (edge: number) => boolean;
  readonly #total: number;
  #dead = 0;
  /** cache of the full recomputation used for nodes whose predecessors have not all settled (early output nodes) */
  #fullVersion = -1;
  #version = 0;
  #fullFrom: Float64Array | undefined;
  #fullDepth: Float64Array | undefined;
  #fullTo: Float64Array | undefined;

  constructor(plan: Plan, edgeDead: (edge: number) => boolean, restored = false) {
    this.#plan = plan;
    this.#edgeDead = edgeDead;
    const n = plan.nodes.length;
    this.#inMain = new Uint8Array(n);
    for (const v of plan.topo) this.#inMain[v] = 1;
    this.#to = new Float64Array(n);
    this.#toLen = new Float64Array(n);
    this.#from = new Float64Array(n);
    this.#depth = new Float64Array(n);
    this.#known = new Uint8Array(n);
    const { topo } = plan;
    for (let i = topo.length - 1; i >= 0; i--) {
      const v = topo[i] as number;
      this.#to[v] = this.#below(v, this.#to, false, 1);
      this.#toLen[v] = this.#below(v, this.#toLen, false, 0) + (this.#to[v] as number);
    }
    const start = topo[0];
    this.#total = start === undefined ? 0 : (this.#toLen[start] as number);
    if (restored) this.#initFromEdges();
  }

  /** The node's predecessors have all settled (it starts or is skipped): fix its live path counts. */
  settled(v: number): void {
    if (!this.#inMain[v] || this.#known[v]) return;
    const { nodes, edges } = this.#plan;
    const node = nodes[v] as PlanNode;
    let from = 0;
    let depth = 0;
    if (v === this.#plan.topo[0]) from = 1;
    for (const k of node.in) {
      const u = (edges[k] as PlanEdge).from;
      if (!this.#inMain[u] || this.#edgeDead(k)) continue;
      from += this.#from[u] as number;
      depth += (this.#depth[u] as number) + (this.#from[u] as number);
    }
    this.#from[v] = from;
    this.#depth[v] = depth;
    this.#known[v] = 1;
  }

  /** A decision killed edge k (not propagation from a skipped node). */
  decided(k: number): void {
    const e = this.#plan.edges[k] as PlanEdge;
    if (!this.#inMain[e.from] || !this.#inMain[e.to]) return;
    if (!this.#known[e.from]) this.settled(e.from);
    const from = this.#from[e.from] as number;
    const fromLen = (this.#depth[e.from] as number) + from;
    this.#dead += fromLen * (this.#to[e.to] as number) + from * (this.#toLen[e.to] as number);
    this.#version++;
  }

  of(v: number): number {
    if (this.#total === 0 || !this.#inMain[v]) return this.#total === 0 ? 0 : this.#dead / this.#total;
    let index: number;
    if (this.#known[v]) {
      index = (this.#depth[v] as number) * this.#liveTo(v);
    } else {
      this.#full();
      index = ((this.#fullDepth as Float64Array)[v] as number) * ((this.#fullTo as Float64Array)[v] as number);
    }
    return (this.#dead + index) / this.#total;
  }

  /** Paths below v that are still live: only v's own out-edges can have died so far (spec §6.7 first token). */
  #liveTo(v: number): number {
    return this.#below(v, this.#to, true, 1);
  }

  /**
   * Σ over v's main-graph successors of `per[successor]` (skipping dead edges when asked); `leaf` for a node
   * without successors.
   */
  #below(v: number, per: Float64Array, skipDead: boolean, leaf: number): number {
    const { nodes, edges } = this.#plan;
    let sum = 0;
    let succ = false;
    for (const k of (nodes[v] as PlanNode).out) {
      const w = (edges[k] as PlanEdge).to;
      if (!this.#inMain[w]) continue;
      succ = true;
      if (!skipDead || !this.#edgeDead(k)) sum += per[w] as number;
    }
    return succ ? sum : leaf;
  }

  /** Full dynamic program over the live edges: for early-launched output nodes, cached until the next decision. */
  #full(): void {
    if (this.#fullVersion === this.#version && this.#fullDepth) return;
    const { nodes, edges, topo } = this.#plan;
    const n = nodes.length;
    const from = (this.#fullFrom ??= new Float64Array(n));
    const depth = (this.#fullDepth ??= new Float64Array(n));
    const to = (this.#fullTo ??= new Float64Array(n));
    from.fill(0);
    depth.fill(0);
    const first = topo[0];
    if (first !== undefined) from[first] = 1;
    for (const v of topo) {
      const fv = from[v] as number;
      if (fv === 0) continue;
      for (const k of (nodes[v] as PlanNode).out) {
        const w = (edges[k] as PlanEdge).to;
        if (!this.#inMain[w] || this.#edgeDead(k)) continue;
        from[w] = (from[w] as number) + fv;
        depth[w] = (depth[w] as number) + (depth[v] as number) + fv;
      }
    }
    for (let i = topo.length - 1; i >= 0; i--) {
      const v = topo[i] as number;
      to[v] = this.#below(v, to, true, 1);
    }
    this.#fullVersion = this.#version;
  }

  /** After a restore: derive the dead total and the live counts from the edge states. */
  #initFromEdges(): void {
    this.#full();
    const from = this.#fullFrom as Float64Array;
    const depth = this.#fullDepth as Float64Array;
    const to = this.#fullTo as Float64Array;
    let live = 0;
    for (const v of this.#plan.topo) live += (from[v] as number) * (to[v] as number);
    // Σ len(live paths) = Σ_v from(v)·to(v); everything else is dead
    this.#dead = this.#total - live;
    this.#from.set(from);
    this.#depth.set(depth);
    this.#version++;
  }
}
