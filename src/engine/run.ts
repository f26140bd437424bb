// A run of a flow (spec §6): what is shared by its graphs (frames in order, usage, abort, the output serialiser), its
// outcome, and capture/restore of the whole run at node boundaries.
//
// Structure (after Dify's split of its graph engine): the Plan is the graph; a Scope (scope.ts) holds the runtime
// state of one graph execution (the main graph, or one item of an iteration) and schedules its nodes; attempts.ts
// runs a plain node, relay.ts an output node, and capture.ts captures and restores a scope. states.ts holds what
// they share. Importers use this file (or index.ts): the other modules are internal to the engine.
import { captureScope, restoreScope } from "./capture.ts";
import { Codes } from "./codes.ts";
import type { Plan, PlanNode } from "./compile.ts";
import { systemClock } from "./clock.ts";
import { toWorkflowError, WorkflowError, type ErrorData } from "./errors.ts";
import { interruptFrame, workflowEndFrame, workflowErrorEndFrame, workflowStartFrame, zeroUsage } from "./frames.ts";
import type { Clock, GuardedFetch, InterruptRequest, KeyValuePort, SqlPort, CodeSandbox, RunInfo } from "./plugin.ts";
import { Progress } from "./progress.ts";
import { OutputSerializer } from "./relay.ts";
import type { RunTracer } from "./trace.ts";
import { Scope } from "./scope.ts";
import { DEAD, type ScopeOutcome } from "./states.ts";
import type { Registry } from "./registry.ts";
import type { EventData, Frame, Usage } from "./types.ts";

export interface RunOptions {
  registry: Registry;
  sid: string;
  info: RunInfo;
  /** the request's `parameters` (start node outputs) */
  parameters: Record<string, unknown>;
  /** receives every frame in order; the engine never emits after the final frame */
  emit: (frame: Frame) => void;
  clock?: Clock;
  fetch?: GuardedFetch;
  /** outbound WebSockets (default: the guard without private addresses) */
  openSocket?: (url: string) => WebSocket;
  kv?: KeyValuePort;
  sql?: SqlPort;
  sandbox?: CodeSandbox;
  config?: Readonly<Record<string, string | undefined>>;
  /** external cancellation (client gone, cancel API) */
  signal?: AbortSignal;
  /** called at every node boundary (a node settled); a good moment to `capture()` */
  onBoundary?: (nodeId: string) => void;
  /**
   * after a restore: may a node that was running when the state was captured run again? `true`, or why not (the
   * message of the error it then fails with instead of running twice). Default: yes
   */
  mayRerun?: (node: PlanNode) => true | string;
  /**
   * a stream source's first token is being handed to an output node: from now on it may reach a client, and a
   * re-run after a restart would show different tokens. Called once per source node and run, before that token
   * is emitted in any frame (a host that persists it knows afterwards which in-flight nodes had shown something)
   */
  onTokensShown?: (nodeId: string) => void;
  log?: (line: string) => void;
  /** issue 17: node attempts, iteration items and waits as spans under the host's root span (none when absent) */
  tracer?: RunTracer;
}

export type RunOutcome =
  | { status: "completed"; outputs: Record<string, unknown>; usage: Usage }
  | { status: "failed"; error: ErrorData }
  | { status: "interrupted"; nodeId: string; eventData: EventData; timeoutMs: number }
  | { status: "cancelled" };

/** JSON state of a run, captured at a node boundary (see `Run.capture`). */
export interface RunState {
  v: 1;
  status: number[];
  edges: number[];
  values: (Record<string, unknown> | null)[];
  errorOutputs: (Record<string, unknown> | null)[];
  shown: (Record<string, unknown> | null)[];
  launched: number[];
  /** nodes running at capture time, in the order they had started (a restore starts them in that order) */
  running: number[];
  usage: Usage;
  produced: Record<string, number>;
  queues: { node: string; frames: Frame[]; done: boolean }[];
  active: string | null;
  streams: { node: number; content: string[]; reasoning: string[]; errored: boolean }[];
  waiting: { node: number; request: InterruptRequest; attempt: number; since?: number } | null;
  started: boolean;
}

// ---------------------------------------------------------------------------------------------------------------

export class Run {
  readonly plan: Plan;
  readonly options: RunOptions;
  readonly clock: Clock;
  readonly #controller = new AbortController();
  readonly serializer: OutputSerializer;
  readonly progress: Progress;
  usage: Usage = zeroUsage();
  /** frames each node produced so far (delivered or queued), for replay suppression after a restore */
  produced: Record<string, number> = {};
  /** after a restore: frames of re-run nodes still to suppress */
  #suppress: Record<string, number> = {};
  #closed = false;
  /** a node failed: nothing but the workflow error end is emitted any more */
  #halted = false;
  #outcome: RunOutcome | undefined;
  #failure: { node: number; error: WorkflowError } | undefined;
  main: Scope;
  #qaLock: Promise<void> = Promise.resolve();
  #started = false;
  #restored: RunState | undefined;

  constructor(plan: Plan, options: RunOptions, state?: RunState) {
    this.plan = plan;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.serializer = new OutputSerializer((f) => this.#deliver(f));
    if (options.signal) {
      const external = options.signal;
      if (external.aborted) this.#controller.abort(external.reason);
      else external.addEventListener("abort", () => this.cancel(), { once: true });
    }
    this.main = new Scope(this, -1, plan.start, plan.end, null);
    const main = this.main;
    if (state) this.#restore(state);
    this.progress = new Progress(plan, (k) => main.edge[k] === DEAD, state !== undefined);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs the flow (or continues a restored one) to its end, an interrupt, a failure or a cancellation. */
  async execute(): Promise<RunOutcome> {
    if (!this.#started) {
      this.#started = true;
      this.emitRaw(workflowStartFrame(this.options.sid, this.created()));
    }
    try {
      const restored = this.#restored !== undefined;
      this.#restored = undefined;
      const outcome = await this.main.execute(restored);
      if (this.#outcome) return this.#outcome;
      return this.#finish(outcome);
    } catch (e) {
      if (this.#outcome) return this.#outcome;
      const error = toWorkflowError(e, Codes.ENG_RUN_ERROR);
      return this.#abort(error);
    }
  }

  /** Continues a run that stopped at an interrupt with the user's answer (spec §1.5.3). */
  async resume(answer: { eventType: string; content: string }): Promise<RunOutcome> {
    const waiting = this.main.waiting;
    if (!waiting) throw WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Current event is not paused");
    if (waiting.since !== undefined)
      this.options.tracer?.wait(this.plan.nodes[waiting.node] as PlanNode, waiting.since, answer.eventType);
    this.#outcome = undefined;
    this.main.resumeWith({
      eventType: answer.eventType,
      content: answer.content,
      state: waiting.request.state,
      attempt: waiting.attempt + 1,
    });
    return this.execute();
  }

  cancel(): void {
    if (this.#closed) return;
    this.#outcome = { status: "cancelled" };
    this.#closed = true;
    this.#controller.abort(new WorkflowError(Codes.ENG_RUN_ERROR, "run cancelled"));
  }

  created(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** Emits a frame of a non-output node (or a workflow frame). */
  emitRaw(frame: Frame, nodeId?: string): void {
    if (this.#closed || this.#halted) return;
    if (nodeId !== undefined && this.#suppressed(nodeId)) return;
    this.#deliver(frame);
  }

  /** Emits a frame of an output node through the serialiser. */
  emitOutput(key: string, nodeId: string, frame: Frame, last: boolean): void {
    if (this.#closed || this.#halted) return;
    if (this.#suppressed(nodeId)) return;
    this.serializer.push(key, frame, last);
  }

  readonly #shown = new Set<number>();

  /** A stream source's tokens are about to be relayed into an output node's frames (see `onTokensShown`). */
  tokensShown(node: number): void {
    if (this.#shown.has(node)) return;
    this.#shown.add(node);
    this.options.onTokensShown?.((this.plan.nodes[node] as PlanNode).id);
  }

  /** frames of this node still to suppress after a restore (it was running when the state was captured) */
  suppressLeft(nodeId: string): number | undefined {
    return this.#suppress[nodeId];
  }

  #suppressed(nodeId: string): boolean {
    this.produced[nodeId] = (this.produced[nodeId] ?? 0) + 1;
    const left = this.#suppress[nodeId];
    if (left !== undefined && left > 0) {
      this.#suppress[nodeId] = left - 1;
      return true;
    }
    return false;
  }

  #deliver(frame: Frame): void {
    if (!this.#closed) this.options.emit(frame);
  }

  /** Called by a scope when a node fails without a strategy: the run aborts (spec §6.7). */
  fail(node: number, error: WorkflowError): void {
    if (this.#failure || this.#closed) return;
    this.#failure = { node, error };
    // spec §6.7: after the failing node's error frame only the workflow error end goes out
    this.#halted = true;
    this.#controller.abort(error);
  }

  get failure(): { node: number; error: WorkflowError } | undefined {
    return this.#failure;
  }

  /** Question-answer nodes run one at a time per run (spec §5.17). */
  async withQaLock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#qaLock;
    let release!: () => void;
    this.#qaLock = new Promise<void>((r) => (release = r));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #finish(outcome: ScopeOutcome): RunOutcome {
    if (outcome.kind === "interrupted") {
      const { node, request } = outcome;
      const p = this.plan.nodes[node] as PlanNode;
      const eventData: EventData = {
        event_id: this.options.info.eventId,
        event_type: "interrupt",
        need_reply: request.needReply,
        value: request.value,
      };
      this.serializer.flush();
      this.emitRaw(
        interruptFrame(this.options.sid, this.created(), {
          id: p.id,
          alias: p.alias,
          executedTime: 0,
          progress: this.progressOf(node),
          eventData,
        }),
      );
      this.#outcome = { status: "interrupted", nodeId: p.id, eventData, timeoutMs: request.timeoutMs };
      return this.#outcome;
    }
    this.serializer.flush();
    this.emitRaw(workflowEndFrame(this.options.sid, this.created(), this.usage));
    this.#closed = true;
    this.#outcome = { status: "completed", outputs: outcome.outputs, usage: this.usage };
    return this.#outcome;
  }

  #abort(error: WorkflowError): RunOutcome {
    if (this.#outcome) return this.#outcome;
    const failure = this.#failure;
    const err = failure ? failure.error : error;
    // output frames still queued behind another output node belong to cancelled work: drop them
    this.serializer.queues.clear();
    if (!this.#controller.signal.aborted) this.#controller.abort(err);
    this.#deliver(workflowErrorEndFrame(this.options.sid, this.created(), err.toData()));
    this.#closed = true;
    this.#outcome = { status: "failed", error: err.toData() };
    return this.#outcome;
  }

  progressOf(node: number): number {
    return this.progress.of(node);
  }

  // ---- capture / restore ---------------------------------------------------------------------------------------

  /**
   * The run's state as JSON, consistent at any moment between two scheduler steps (call it from `onBoundary`).
   * Nodes running at that moment are recorded as pending and run again after a restore (or fail, see `mayRerun`);
   * the frames they had already produced are suppressed when they run again.
   */
  capture(): RunState {
    const s = captureScope(this.main);
    const queues = [...this.serializer.queues].map(([key, q]) => ({
      node: key,
      frames: structuredClone(q.frames),
      done: q.done,
    }));
    return structuredClone({
      v: 1 as const,
      status: s.status,
      edges: s.edges,
      values: s.values,
      errorOutputs: s.errorOutputs,
      shown: s.shown,
      launched: s.launched,
      running: s.running,
      usage: this.usage,
      produced: { ...this.produced },
      queues,
      active: this.serializer.active,
      streams: s.streams,
      waiting: s.waiting,
      started: this.#started,
    });
  }

  #restore(state: RunState): void {
    if (state.v !== 1) throw WorkflowError.of(Codes.ENG_RUN_ERROR, `unknown run state version ${String(state.v)}`);
    this.#restored = state;
    this.#started = state.started;
    this.usage = state.usage;
    this.produced = {};
    this.#suppress = { ...state.produced };
    // queued frames are re-injected as they were; they count as produced
    for (const q of state.queues) {
      this.serializer.queues.set(q.node, { frames: q.frames, done: q.done });
    }
    this.serializer.active = state.active;
    restoreScope(this.main, state);
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Reconciles a captured state with the frames that were actually delivered after the capture (a Durable Object
 * stores every frame as it is emitted, but captures state only at node boundaries). `delivered` counts the stored
 * frames per node id. Frames that were queued at capture time and delivered since are dropped from the queues, and
 * nodes that run again suppress everything they had already delivered, so no frame is delivered twice.
 */
export function reconcileState(state: RunState, delivered: Record<string, number>): RunState {
  const next: RunState = structuredClone(state);
  const queuedByNode: Record<string, number> = {};
  for (const q of next.queues) {
    for (const f of q.frames) {
      const id = f.workflow_step?.node?.id ?? "";
      queuedByNode[id] = (queuedByNode[id] ?? 0) + 1;
    }
  }
  const sinceCapture: Record<string, number> = {};
  for (const [id, d] of Object.entries(delivered)) {
    const produced = next.produced[id] ?? 0;
    const deliveredAtCapture = produced - (queuedByNode[id] ?? 0);
    sinceCapture[id] = Math.max(0, d - deliveredAtCapture);
    next.produced[id] = Math.max(produced, d);
  }
  for (const q of next.queues) {
    q.frames = q.frames.filter((f) => {
      const id = f.workflow_step?.node?.id ?? "";
      const left = sinceCapture[id] ?? 0;
      if (left > 0) {
        sinceCapture[id] = left - 1;
        return false;
      }
      return true;
    });
  }
  next.queues = next.queues.filter((q) => q.frames.length > 0 || !q.done);
  return next;
}
