// The scheduler of one graph execution (spec §6): which nodes are ready (AND-joins: join counters over in-edges),
// edge settlement by results, branches and fail branches, dead-path elimination (skips), concurrent branches,
// completion, interrupts (§6.10), the waits output nodes make on other nodes, and an iteration's inner graph per item.
// What runs a node is elsewhere: attempts.ts (plain nodes: retries, timeouts, error strategies §6.7), relay.ts
// (output nodes: gates and token relay §6.6), capture.ts (capture/restore at node boundaries).
import { Codes } from "./codes.ts";
import type { Plan, PlanEdge, PlanNode } from "./compile.ts";
import { toWorkflowError, WorkflowError } from "./errors.ts";
import { executedTime, nodeErrorFrame } from "./frames.ts";
import type { InterruptRequest, NodeResult, ResumeAnswer, SubgraphResult } from "./plugin.ts";
import type { ActiveSpan, SpanContext } from "./trace.ts";
import { runNode } from "./attempts.ts";
import { resumeRestored } from "./capture.ts";
import { launchOutput } from "./relay.ts";
import type { Run } from "./run.ts";
import {
  DEAD,
  DONE,
  FAILED,
  LIVE,
  PENDING,
  RUNNING,
  SKIPPED,
  UNKNOWN,
  WAITING,
  wakeStream,
  type ScopeOutcome,
  type StreamBuf,
} from "./states.ts";
import type { Usage } from "./types.ts";

type Waiter = () => void;

/**
 * The runtime state of one graph execution: the main graph, or one item of an iteration. Its fields are plain (not
 * `#private`) where attempts.ts, relay.ts and capture.ts read or write them: the class is internal to the engine and
 * never exported from index.ts.
 */
export class Scope {
  readonly run: Run;
  readonly plan: Plan;
  /** -1 for the main graph, else the iteration node's index */
  readonly id: number;
  readonly start: number;
  readonly end: number;
  readonly status: Uint8Array;
  readonly edge: Uint8Array;
  readonly unsettled: Int32Array;
  readonly liveIn: Int32Array;
  values: (Record<string, unknown> | undefined)[];
  readonly errorOutputs: (Record<string, unknown> | undefined)[];
  readonly shown: (Record<string, unknown> | undefined)[];
  readonly streams = new Map<number, StreamBuf>();
  /**
   * Per stream source, the output nodes relaying it right now: each callback relays the tokens already received and
   * sends the chunk the node holds back for its end frame, so a source that breaks shows all it sent (issue 14).
   */
  readonly breakDrains = new Map<number, Set<() => void>>();
  readonly launched = new Map<number, Promise<NodeResult | undefined>>();
  readonly startedAt = new Map<number, number>();
  /** start sequence per node, so a restore can start the interrupted nodes in their original order */
  readonly startOrder = new Map<number, number>();
  #starts = 0;
  /** after a restore: output nodes launched early before the capture, launched again (capture.ts) */
  relaunch: number[] = [];
  /** after a restore: nodes running at capture time, in their start order (capture.ts) */
  rerun: number[] = [];
  readonly #waiters = new Map<number, Waiter[]>();
  running = 0;
  waiting: { node: number; request: InterruptRequest; attempt: number; t0: number; since?: number } | undefined;
  /** issue 17: the span this graph's nodes hang under (an iteration item's), else the run's root */
  parentSpan: SpanContext | undefined;
  /** the span of each node's current attempt (an iteration's items hang under it) */
  readonly spans = new Map<number, ActiveSpan>();
  /** the user's answer to the wait this scope stopped at, handed to the waiting node's next attempt (attempts.ts) */
  resume: ResumeAnswer | undefined;
  /** the node the pending answer is for (any plugin may pause; the answer goes to the one that did) */
  resumeNode = -1;
  #done!: (o: ScopeOutcome) => void;
  #error!: (e: unknown) => void;
  #settled = false;
  /** what this graph's start node receives: the request's parameters, or an iteration's item */
  readonly parameters: Record<string, unknown>;
  /** prefix of this scope's keys in the output serialiser (relay.ts): none in the main graph, one per inner run */
  readonly keyPrefix: string;
  static #innerExecutions = 0;

  constructor(
    run: Run,
    id: number,
    start: number,
    end: number,
    parent: Scope | null,
    parameters?: Record<string, unknown>,
  ) {
    this.run = run;
    this.plan = run.plan;
    this.id = id;
    this.start = start;
    this.end = end;
    const n = this.plan.nodes.length;
    this.status = new Uint8Array(n);
    this.edge = new Uint8Array(this.plan.edges.length);
    this.unsettled = new Int32Array(n);
    this.liveIn = new Int32Array(n);
    // iterations run on a copy of the pool as it was when the iteration started (spec §5.18)
    this.values = parent ? parent.values.slice() : new Array(n);
    this.errorOutputs = parent ? parent.errorOutputs.slice() : new Array(n);
    this.shown = new Array(n);
    this.parameters = parameters ?? run.options.parameters;
    this.keyPrefix = id === -1 ? "" : `i${Scope.#innerExecutions++}/`;
    const { nodes, edges } = this.plan;
    for (let i = 0; i < n; i++) {
      const node = nodes[i] as PlanNode;
      if (node.scope !== id) continue;
      let count = 0;
      for (const k of node.in) {
        // edges from outside this graph (unreachable nodes) never settle: treat them as dead from the start
        if ((nodes[(edges[k] as PlanEdge).from] as PlanNode).scope === id) count++;
        else this.edge[k] = DEAD;
      }
      this.unsettled[i] = count;
    }
  }

  // ---- execution ------------------------------------------------------------------------------------------------

  execute(restored: boolean): Promise<ScopeOutcome> {
    const p = new Promise<ScopeOutcome>((resolve, reject) => {
      this.#done = resolve;
      this.#error = reject;
    });
    this.#settled = false;
    const signal = this.run.signal;
    if (signal.aborted) {
      this.#error(signal.reason);
      return p;
    }
    const onAbort = (): void => this.#error(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    void p.finally(() => signal.removeEventListener("abort", onAbort)).catch(() => undefined);
    if (this.resume && this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      this.resumeNode = w.node;
      this.status[w.node] = PENDING;
      this.startNode(w.node);
    } else if (restored) {
      resumeRestored(this);
    } else {
      this.startNode(this.start);
    }
    this.#checkComplete();
    return p;
  }

  resumeWith(answer: ResumeAnswer): void {
    this.resume = answer;
    if (this.waiting) this.answers.set(this.waiting.node, answer.attempt);
  }

  /** answers received per question-answer node in its current wait */
  readonly answers = new Map<number, number>();

  /** Starts a ready node: an output node's relay (relay.ts) or a plain node's attempts (attempts.ts). */
  startNode(i: number): void {
    const node = this.plan.nodes[i] as PlanNode;
    this.status[i] = RUNNING;
    this.running++;
    this.startedAt.set(i, this.run.clock.now());
    this.startOrder.set(i, this.#starts++);
    if (this.id === -1) this.run.progress.settled(i);
    // spec §6.6.1: launch the output nodes that read this node before it starts
    if (node.launchBefore) for (const m of node.launchBefore) launchOutput(this, m);
    if (node.stream) this.stream(i).started = true;
    this.#wake(i);
    const task = node.answer ? launchOutput(this, i) : runNode(this, i);
    task.then(
      (result) => this.complete(i, result),
      (e: unknown) => this.onNodeError(i, e),
    );
  }

  /** A node failed without a strategy (or may not run again after a restore): the run fails (spec §6.7). */
  onNodeError(i: number, e: unknown): void {
    if (this.#settled) return;
    const node = this.plan.nodes[i] as PlanNode;
    this.status[i] = FAILED;
    this.running--;
    this.#wake(i);
    // a node cancelled because another one failed (or the run was cancelled) reports nothing of its own
    if (this.run.signal.aborted) return;
    const error = toWorkflowError(e, node.errorCode);
    if (!this.framed.has(i)) {
      const run = this.run;
      run.emitRaw(
        nodeErrorFrame(run.options.sid, run.created(), {
          id: node.id,
          alias: node.alias,
          error: error.toData(),
          inputs: {},
          executedTime: executedTime(run.clock.now() - (this.startedAt.get(i) ?? run.clock.now())),
          progress: run.progressOf(i),
          zeroUsage: false,
        }),
        node.id,
      );
    }
    this.run.fail(i, error);
  }

  /** nodes whose error frame was already emitted */
  readonly framed = new Set<number>();

  /** A node finished (result) or ended silently (undefined: a skipped message node launched early). */
  complete(i: number, result: NodeResult | undefined): void {
    // after a failure or a cancellation nothing settles any more (and no boundary is reported)
    if (this.#settled || this.run.signal.aborted) return;
    const node = this.plan.nodes[i] as PlanNode;
    if (this.status[i] !== RUNNING) return;
    this.running--;
    if (result?.interrupt) {
      this.status[i] = WAITING;
      this.waiting = {
        node: i,
        request: result.interrupt,
        attempt: this.answers.get(i) ?? 0,
        t0: this.startedAt.get(i) ?? 0,
        since: this.run.clock.now(),
      };
      this.#checkComplete();
      return;
    }
    this.status[i] = DONE;
    const fail = this.errorOutputs[i] !== undefined && node.retry.errorStrategy === 2;
    const { edges } = this.plan;
    // dead edges first (spec §6.3: skips are marked before the completion is visible), then the live ones
    for (let pass = 0; pass < 2; pass++) {
      for (const k of node.out) {
        const e = edges[k] as PlanEdge;
        if (this.edge[k] !== UNKNOWN) continue;
        let live: boolean;
        if (fail) live = e.fail;
        else if (e.fail) live = false;
        else if (node.branch) live = e.handle === result?.branch;
        else live = true;
        if (live === (pass === 1)) this.settleEdge(k, live);
      }
    }
    this.#wake(i);
    if (this.id === -1) this.run.options.onBoundary?.(node.id);
    this.#checkComplete();
  }

  /** An edge is decided; its target starts, or is skipped, when that was its last unsettled in-edge. */
  settleEdge(k: number, live: boolean): void {
    const e = this.plan.edges[k] as PlanEdge;
    this.edge[k] = live ? LIVE : DEAD;
    if (!live && this.id === -1) this.run.progress.decided(k);
    const t = e.to;
    if (live) this.liveIn[t] = (this.liveIn[t] as number) + 1;
    if ((this.unsettled[t] = (this.unsettled[t] as number) - 1) === 0 && this.status[t] === PENDING) {
      if ((this.liveIn[t] as number) > 0) this.startNode(t);
      else this.#skip(t);
    }
  }

  /** spec §6.3: a node all of whose in-edges are dead is skipped, and its out-edges die (propagation). */
  #skip(i: number): void {
    const stack = [i];
    while (stack.length) {
      const v = stack.pop() as number;
      this.status[v] = SKIPPED;
      const node = this.plan.nodes[v] as PlanNode;
      for (const k of node.out) {
        if (this.edge[k] !== UNKNOWN) continue;
        this.edge[k] = DEAD;
        const t = (this.plan.edges[k] as PlanEdge).to;
        if ((this.unsettled[t] = (this.unsettled[t] as number) - 1) === 0 && this.status[t] === PENDING) {
          if ((this.liveIn[t] as number) > 0) this.startNode(t);
          else stack.push(t);
        }
      }
      const buf = this.streams.get(v);
      if (buf) {
        buf.ended = true;
        wakeStream(buf);
      }
      this.#wake(v);
    }
  }

  #checkComplete(): void {
    if (this.#settled || this.running > 0) return;
    const endStatus = this.status[this.end];
    if (endStatus === DONE) {
      this.#settled = true;
      this.#done({ kind: "completed", outputs: this.values[this.end] ?? {} });
    } else if (this.waiting) {
      this.#settled = true;
      this.#done({ kind: "interrupted", node: this.waiting.node, request: this.waiting.request });
    } else {
      this.#settled = true;
      const node = this.plan.nodes[this.end] as PlanNode;
      const why = endStatus === SKIPPED ? `end node ${node.id} was skipped` : `End node did not return result`;
      this.#error(WorkflowError.of(Codes.ENG_RUN_ERROR, why));
    }
  }

  // ---- waiting helpers ---------------------------------------------------------------------------------------------

  #wake(i: number): void {
    const list = this.#waiters.get(i);
    if (!list) return;
    this.#waiters.delete(i);
    for (const w of list) w();
  }

  #on(i: number, w: Waiter): void {
    let list = this.#waiters.get(i);
    if (!list) this.#waiters.set(i, (list = []));
    list.push(w);
  }

  isSettled(i: number): boolean {
    const s = this.status[i];
    return s === DONE || s === SKIPPED || s === FAILED || (this.plan.nodes[i] as PlanNode).scope !== this.id;
  }

  /** resolves when every node in `list` is done or skipped (nodes outside this graph count as settled) */
  waitSettled(list: readonly number[] | undefined): Promise<void> | undefined {
    if (!list) return undefined;
    const pending = list.filter((i) => !this.isSettled(i));
    if (pending.length === 0) return undefined;
    return new Promise<void>((resolve, reject) => {
      let left = pending.length;
      const signal = this.run.signal;
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      const check = (i: number): void => {
        if (!this.isSettled(i)) return this.#on(i, () => check(i));
        if (--left === 0) {
          signal.removeEventListener("abort", onAbort);
          resolve();
        }
      };
      for (const i of pending) this.#on(i, () => check(i));
    });
  }

  /** resolves when the node has started (or settled) */
  waitStarted(i: number): Promise<void> | undefined {
    if (this.status[i] !== PENDING || (this.plan.nodes[i] as PlanNode).scope !== this.id) return undefined;
    return new Promise<void>((resolve, reject) => {
      const signal = this.run.signal;
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      const check = (): void => {
        if (this.status[i] === PENDING) return this.#on(i, check);
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#on(i, check);
    });
  }

  /** The token buffer of a stream source (created on first use). */
  stream(i: number): StreamBuf {
    let buf = this.streams.get(i);
    if (!buf)
      this.streams.set(
        i,
        (buf = { content: [], reasoning: [], started: false, ended: false, errored: false, wake: [] }),
      );
    return buf;
  }

  /** Runs an iteration's inner graph for one item on a copy of the pool (spec §5.18, [new] own result per item). */
  async subgraph(owner: number, startId: string, startOutputs: Record<string, unknown>): Promise<SubgraphResult> {
    const node = this.plan.nodes[owner] as PlanNode;
    const start = this.plan.nodes.findIndex((x) => x.id === startId);
    if (start < 0 || node.innerEnd === undefined)
      throw WorkflowError.of(Codes.ITERATION_EXECUTION_ERROR, `no inner graph at ${startId}`);
    const inner = new Scope(this.run, owner, start, node.innerEnd, this, startOutputs);
    const before = this.run.usage;
    // issue 17: each item is a span under the iteration node's attempt, and the item's nodes hang under it
    const ownerSpan = this.spans.get(owner);
    const index = ownerSpan ? (itemCounts.get(ownerSpan) ?? 0) : 0;
    if (ownerSpan) itemCounts.set(ownerSpan, index + 1);
    const itemSpan = ownerSpan?.child(`item ${index}`, undefined, {
      "workflow.node.id": node.id,
      "workflow.iteration.index": index,
    });
    inner.parentSpan = itemSpan?.context;
    let outcome: ScopeOutcome;
    try {
      outcome = await inner.execute(false);
    } catch (e) {
      itemSpan?.end(toWorkflowError(e, Codes.ITERATION_EXECUTION_ERROR));
      throw e;
    }
    itemSpan?.end();
    if (outcome.kind !== "completed") {
      throw WorkflowError.of(Codes.ITERATION_EXECUTION_ERROR, "question-answer nodes inside an iteration cannot pause");
    }
    const usage = subtractUsage(this.run.usage, before);
    return { outputs: outcome.outputs, usage };
  }
}

function subtractUsage(a: Usage, b: Usage): Usage {
  return {
    completion_tokens: a.completion_tokens - b.completion_tokens,
    prompt_tokens: a.prompt_tokens - b.prompt_tokens,
    total_tokens: a.total_tokens - b.total_tokens,
  };
}

/** items run so far under each iteration attempt span (their index) */
const itemCounts = new WeakMap<ActiveSpan, number>();
