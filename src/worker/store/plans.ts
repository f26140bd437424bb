// Compiled plans kept in the isolate (issue 15, "caching that pays"). A plan is keyed by its flow, version and the
// content hash of its DSL, so an entry is never stale and needs no invalidation: a changed flow has a new key and the
// old one ages out. Plans are not put in Upstash: a hit there (a GET of the plan's JSON, then parsing it) cost more
// than compiling the DSL again (BENCHMARKS.md, `npm run bench -- cache`), so the shared cache holds the flow rows,
// which save D1 reads, and each isolate compiles a flow once.
import type { Plan } from "../../engine/index.ts";

/** Bounds: plans kept, and their nodes in all (a plan is about 0.7 KB per node; 50,000 nodes is about 35 MB). */
export const PLAN_MEMO_MAX_PLANS = 500;
export const PLAN_MEMO_MAX_NODES = 50_000;

export class PlanMemo {
  readonly #map = new Map<string, Plan>();
  readonly #maxPlans: number;
  readonly #maxNodes: number;
  #nodes = 0;
  hits = 0;
  misses = 0;

  constructor(maxPlans = PLAN_MEMO_MAX_PLANS, maxNodes = PLAN_MEMO_MAX_NODES) {
    this.#maxPlans = maxPlans;
    this.#maxNodes = maxNodes;
  }

  get size(): number {
    return this.#map.size;
  }

  get nodes(): number {
    return this.#nodes;
  }

  get(key: string): Plan | undefined {
    const plan = this.#map.get(key);
    if (!plan) {
      this.misses++;
      return undefined;
    }
    // most recently used last
    this.#map.delete(key);
    this.#map.set(key, plan);
    this.hits++;
    return plan;
  }

  set(key: string, plan: Plan): void {
    const weight = plan.nodes.length;
    // a plan larger than the whole budget is compiled for each run rather than evicting everything else
    if (weight > this.#maxNodes) return;
    this.#drop(key);
    this.#map.set(key, plan);
    this.#nodes += weight;
    for (const [oldest, old] of this.#map) {
      if (this.#map.size <= this.#maxPlans && this.#nodes <= this.#maxNodes) break;
      this.#map.delete(oldest);
      this.#nodes -= old.nodes.length;
    }
  }

  #drop(key: string): void {
    const old = this.#map.get(key);
    if (!old) return;
    this.#map.delete(key);
    this.#nodes -= old.nodes.length;
  }
}

/** the isolate's plans */
export const planMemo = new PlanMemo();
