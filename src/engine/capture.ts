// Capture and restore of a scope at a node boundary, and the resume of a restored scope. Only the main graph's scope
// is captured: an iteration running at that moment is recorded as running and runs again as a whole. The run's own
// part of the state (usage, frames produced, the serialiser's queues) is captured and restored by `Run` (run.ts).
import { Codes } from "./codes.ts";
import type { PlanEdge, PlanNode } from "./compile.ts";
import { WorkflowError } from "./errors.ts";
import { launchOutput } from "./relay.ts";
import type { RunState } from "./run.ts";
import type { Scope } from "./scope.ts";
import { DONE, LIVE, PENDING, RUNNING, SKIPPED, UNKNOWN, WAITING } from "./states.ts";

/** The part of a `RunState` that belongs to the scope. */
export type ScopeState = Pick<
  RunState,
  "status" | "edges" | "values" | "errorOutputs" | "shown" | "launched" | "running" | "streams" | "waiting"
>;

/**
 * The scope's state, consistent between two scheduler steps. Nodes running now are recorded as pending (they run
 * again after a restore); the streams kept are those of sources that are done. Not a deep copy: the caller clones.
 */
export function captureScope(s: Scope): ScopeState {
  const running = (st: number): number => (st === RUNNING ? PENDING : st);
  const streams: RunState["streams"] = [];
  for (const [node, buf] of s.streams) {
    if (s.status[node] === DONE)
      streams.push({ node, content: [...buf.content], reasoning: [...buf.reasoning], errored: buf.errored });
  }
  return {
    status: Array.from(s.status, running),
    edges: Array.from(s.edge),
    values: s.values.map((v) => v ?? null),
    errorOutputs: s.errorOutputs.map((v) => v ?? null),
    shown: s.shown.map((v) => v ?? null),
    launched: [...s.launched.keys()].filter((m) => s.status[m] !== DONE && s.status[m] !== SKIPPED),
    running: [...s.startOrder.entries()]
      .filter(([i]) => s.status[i] === RUNNING)
      .sort((a, b) => a[1] - b[1])
      .map(([i]) => i),
    streams,
    waiting: s.waiting
      ? { node: s.waiting.node, request: s.waiting.request, attempt: s.waiting.attempt, since: s.waiting.since }
      : null,
  };
}

/** Puts a captured state into a fresh scope, before it executes (`resumeRestored` then starts it). */
export function restoreScope(scope: Scope, state: RunState): void {
  const n = scope.plan.nodes.length;
  for (let i = 0; i < n; i++) scope.status[i] = state.status[i] ?? PENDING;
  for (let k = 0; k < scope.plan.edges.length; k++) scope.edge[k] = state.edges[k] ?? UNKNOWN;
  scope.values = state.values.map((v) => v ?? undefined);
  state.errorOutputs.forEach((v, i) => (scope.errorOutputs[i] = v ?? undefined));
  state.shown.forEach((v, i) => (scope.shown[i] = v ?? undefined));
  // rebuild the join counters from the edge states
  scope.unsettled.fill(0);
  scope.liveIn.fill(0);
  const { nodes, edges } = scope.plan;
  for (let k = 0; k < edges.length; k++) {
    const e = edges[k] as PlanEdge;
    if ((nodes[e.to] as PlanNode).scope !== scope.id) continue;
    if (scope.edge[k] === UNKNOWN) scope.unsettled[e.to] = (scope.unsettled[e.to] as number) + 1;
    else if (scope.edge[k] === LIVE) scope.liveIn[e.to] = (scope.liveIn[e.to] as number) + 1;
  }
  for (const s of state.streams) {
    scope.streams.set(s.node, {
      content: s.content,
      reasoning: s.reasoning,
      started: true,
      ended: true,
      errored: s.errored,
      wake: [],
    });
  }
  scope.relaunch = state.launched;
  scope.rerun = state.running ?? [];
  if (state.waiting) {
    const w = state.waiting;
    scope.status[w.node] = WAITING;
    scope.waiting = { node: w.node, request: w.request, attempt: w.attempt, t0: 0, since: w.since };
  }
}

/**
 * After a restore: every pending node whose in-edges are all settled with one live was running when the state was
 * captured (ready nodes start synchronously). It runs again, unless `mayRerun` says why not: then it fails with a
 * clear code (and that reason) instead of running twice (ARCHITECTURE decision 2). Output nodes that had been
 * launched early launch again.
 */
export function resumeRestored(scope: Scope): void {
  const { nodes } = scope.plan;
  const mayRerun = scope.run.options.mayRerun;
  for (const m of scope.relaunch) {
    if (scope.status[m] === PENDING && (nodes[m] as PlanNode).answer) void launchOutput(scope, m);
  }
  scope.relaunch = [];
  const order = [...scope.rerun, ...nodes.map((_, i) => i)];
  scope.rerun = [];
  for (const i of order) {
    const node = nodes[i] as PlanNode;
    if (node.scope !== scope.id || scope.status[i] !== PENDING) continue;
    const ready = i === scope.start || (scope.unsettled[i] === 0 && (scope.liveIn[i] as number) > 0);
    if (!ready) continue;
    const verdict = mayRerun && !node.answer ? mayRerun(node) : true;
    if (verdict !== true) {
      scope.status[i] = RUNNING;
      scope.running++;
      const error = WorkflowError.of(Codes.NODE_RUN_ERROR, verdict);
      queueMicrotask(() => scope.onNodeError(i, error));
      continue;
    }
    scope.startNode(i);
  }
}
