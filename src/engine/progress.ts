// spec §6.9: progress(node) = Σ over main paths p [p dead ? len(p) : index of node in p (0 if absent)] / Σ len(p).
// The original enumerates every path (exponential). Here the same sums come from path-counting dynamic programs
// over the topological order, so a flow of 30 consecutive diamonds (2^30 paths) costs O(nodes + edges):
//   Σ len(p) over all paths            = Σ_v from(v) · to(v)
//   Σ over paths through v of index(v) = to(v) · depth(v)      where depth(v) = Σ over start→v paths of (#nodes before v)
// A path is dead when any of its edges is dead, so the live sums are the same programs restricted to live edges
// and Σ len(dead paths) = Σ len(all) − Σ len(live).
import type { Plan, PlanEdge, PlanNode } from "./compile.ts";

export class Progress {
  readonly #plan: Plan;
  readonly #position: Int32Array;
  #total = 0;
  #dead = 0;
  #to: Float64Array;
  #depth: Float64Array;
  #dirty = true;

  constructor(plan: Plan) {
    this.#plan = plan;
    this.#position = new Int32Array(plan.nodes.length).fill(-1);
    plan.topo.forEach((v, i) => (this.#position[v] = i));
    this.#to = new Float64Array(plan.nodes.length);
    this.#depth = new Float64Array(plan.nodes.length);
    this.#compute(() => false);
    this.#total = this.#liveLength;
    // the first query recomputes with the run's edge states (a restored run starts with dead edges)
    this.#dirty = true;
  }

  #liveLength = 0;

  /** Marks that some main-graph edge died; the next query recomputes the live sums. */
  invalidate(): void {
    this.#dirty = true;
  }

  /** Progress of a node given which edges are dead (edgeDead(k) true ⇔ edge k was eliminated). */
  of(node: number, edgeDead: (edge: number) => boolean): number {
    if (this.#total === 0) return 0;
    if (this.#dirty) {
      this.#compute(edgeDead);
      this.#dead = this.#total - this.#liveLength;
    }
    const index = this.#position[node] === -1 ? 0 : (this.#to[node] as number) * (this.#depth[node] as number);
    return (this.#dead + index) / this.#total;
  }

  #compute(edgeDead: (edge: number) => boolean): void {
    const { nodes, edges, topo } = this.#plan;
    const inMain = this.#position;
    const from = new Float64Array(nodes.length);
    const depth = this.#depth;
    const to = this.#to;
    depth.fill(0);
    to.fill(0);
    const first = topo[0];
    if (first === undefined) return;
    from[first] = 1;
    for (const v of topo) {
      const fv = from[v] as number;
      if (fv === 0) continue;
      for (const k of (nodes[v] as PlanNode).out) {
        const e = edges[k] as PlanEdge;
        if (inMain[e.to] === -1 || edgeDead(k)) continue;
        from[e.to] = (from[e.to] as number) + fv;
        depth[e.to] = (depth[e.to] as number) + (depth[v] as number) + fv;
      }
    }
    let length = 0;
    for (let i = topo.length - 1; i >= 0; i--) {
      const v = topo[i] as number;
      let t = 0;
      let hasSucc = false;
      for (const k of (nodes[v] as PlanNode).out) {
        const e = edges[k] as PlanEdge;
        if (inMain[e.to] === -1) continue;
        hasSucc = true;
        if (!edgeDead(k)) t += to[e.to] as number;
      }
      // a leaf (no successors at all) ends one path; a node whose every out-edge died ends none
      to[v] = hasSucc ? t : 1;
      length += (from[v] as number) * (to[v] as number);
    }
    this.#liveLength = length;
    this.#dirty = false;
  }
}
