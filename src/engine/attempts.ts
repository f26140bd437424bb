// Running one node (spec §6.7): its inputs from the pool, the attempt loop with retries and a timeout per attempt,
// the three error strategies (fail the run, custom output, fail branch), the checks of a result (its branch, its
// outputs) and the context a plugin runs with. A stream source's tokens go into its buffer, where the output nodes
// relaying it read them (relay.ts); settling the node's edges is the scope's (scope.ts).
import { Codes } from "./codes.ts";
import type { PlanEdge, PlanNode } from "./compile.ts";
import { toWorkflowError, WorkflowError } from "./errors.ts";
import { addUsage, executedTime, nodeEndFrame, nodeErrorFrame, nodeStartFrame } from "./frames.ts";
import { nodeAttempts, nodeTimeoutMs } from "./limits.ts";
import { createSocketOpener } from "./net.ts";
import type {
  GuardedFetch,
  KeyValuePort,
  NodeContext,
  NodeEvent,
  NodeResult,
  ResumeAnswer,
  RunOutput,
} from "./plugin.ts";
import { resolveRefSegments } from "./refs.ts";
import { validateOutputs } from "./schema.ts";
import type { Scope } from "./scope.ts";
import { UNKNOWN, wakeStream, type StreamBuf } from "./states.ts";
import { renderTemplate } from "./template.ts";
import { tracedFetch, type ActiveSpan } from "./trace.ts";

const EMPTY: Record<string, unknown> = Object.freeze({});

// ---- inputs ----------------------------------------------------------------------------------------------------

/** A node's variables as refs read them: its outputs, plus errorCode/errorMessage once a strategy set them. */
export function poolOf(scope: Scope, r: number): Record<string, unknown> {
  const errors = scope.errorOutputs[r];
  const values = scope.values[r] ?? EMPTY;
  return errors ? { ...values, ...errors } : values;
}

/** The node's inputs from the pool (literals as they are); a missing ref is a coded error. */
export function resolveInputs(scope: Scope, node: PlanNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const input of node.inputs) {
    if (input.kind === "literal") {
      out[input.name] = input.value;
      continue;
    }
    const r = input.ref ?? -1;
    if (r < 0) {
      throw WorkflowError.of(
        Codes.VARIABLE_POOL_GET_PARAMETER_ERROR,
        `Node ${input.nodeId} does not have value ${input.path}`,
      );
    }
    const source = scope.plan.nodes[r] as PlanNode;
    const values = poolOf(scope, r);
    out[input.name] = resolveRefSegments(source.id, values, source.outputs, input.segments ?? [input.path]);
  }
  return out;
}

// ---- plain nodes ----------------------------------------------------------------------------------------------

/**
 * Runs a plain node (not an output node): its attempts, then its end or error frame, then its completion in the
 * scope (in the same step as the end frame). A failure without a strategy rejects (the scope fails the run).
 */
export async function runNode(scope: Scope, i: number): Promise<NodeResult> {
  const run = scope.run;
  const node = scope.plan.nodes[i] as PlanNode;
  const t0 = scope.startedAt.get(i) ?? run.clock.now();
  const sid = run.options.sid;
  const isResume = scope.resume !== undefined && i === scope.resumeNode;
  if (!isResume) {
    run.emitRaw(nodeStartFrame(sid, run.created(), { id: node.id, alias: node.alias }, run.progressOf(i)), node.id);
  }
  const policy = node.retryable && node.retry.shouldRetry ? node.retry : undefined;
  // issue 13: the author's timeout and retries, clamped to the operator's caps (src/engine/limits.ts)
  const config = run.options.config ?? {};
  const attempts = policy ? nodeAttempts(policy, config) : 1;
  let inputs: Record<string, unknown> = {};
  let lastError: WorkflowError | undefined;
  let result: NodeResult | undefined;
  const buf = node.stream ? scope.stream(i) : undefined;
  for (let attempt = 0; attempt < attempts && !result; attempt++) {
    const span = run.options.tracer?.attempt(scope.parentSpan, node, attempt + 1);
    if (span) {
      scope.spans.set(i, span);
      // the answer to a question: the node runs again, as a new attempt after its wait
      if (isResume) span.set({ "workflow.node.resumed": true });
    }
    try {
      inputs = resolveInputs(scope, node);
      const r = await runAttempt(
        scope,
        i,
        node,
        inputs,
        policy !== undefined && !node.stream ? nodeTimeoutMs(policy, config) : 0,
        buf,
        span,
      );
      if (!r.interrupt) validate(scope, node, r);
      result = r;
      span?.set({ "workflow.node.outcome": r.interrupt ? "interrupted" : "success" });
      span?.end();
    } catch (e) {
      if (run.signal.aborted) {
        span?.set({ "workflow.node.outcome": "cancelled" });
        span?.end(toWorkflowError(run.signal.reason, Codes.ENG_RUN_ERROR));
        throw run.signal.reason;
      }
      lastError = toWorkflowError(e, node.errorCode);
      // spec §6.7: a streaming node that fails after its first token aborts the run (tokens were shown)
      const shown = buf !== undefined && buf.content.length + buf.reasoning.length > 0;
      if (span) {
        const last = shown || attempt === attempts - 1;
        const strategy = last && !shown ? policy?.errorStrategy : undefined;
        span.set({
          "workflow.node.outcome": last ? (strategy === 1 || strategy === 2 ? "error_strategy" : "error") : "retry",
          ...(strategy === 1 ? { "workflow.node.error_strategy": "custom_output" } : {}),
          ...(strategy === 2 ? { "workflow.node.error_strategy": "fail_branch" } : {}),
        });
        span.end(lastError);
      }
      if (shown) break;
    }
  }
  if (!result) {
    const error = lastError ?? WorkflowError.of(node.errorCode);
    const tokensShown = buf !== undefined && buf.content.length + buf.reasoning.length > 0;
    if (!policy || policy.errorStrategy === 0 || tokensShown) {
      // the tokens received before the break reach the client before the error frame: relays woken for them
      // would run only after it, and an output node holds its last chunk back until it knows it is the last
      for (const drain of scope.breakDrains.get(i) ?? []) drain();
      run.emitRaw(
        nodeErrorFrame(sid, run.created(), {
          id: node.id,
          alias: node.alias,
          error: error.toData(),
          inputs,
          executedTime: executedTime(run.clock.now() - t0),
          progress: run.progressOf(i),
          zeroUsage: node.type === "spark-llm" || node.type === "decision-making",
        }),
        node.id,
      );
      scope.framed.add(i);
      if (buf) {
        buf.ended = true;
        wakeStream(buf);
      }
      throw error;
    }
    // strategies 1 and 2: the node succeeds with custom output or with defaults on the fail branch
    const errorOutputs = { errorCode: error.code, errorMessage: error.message };
    scope.errorOutputs[i] = errorOutputs;
    result = { outputs: policy.errorStrategy === 1 ? { ...policy.customOutput } : {} };
    if (buf) {
      buf.errored = true;
    }
  }
  if (result.interrupt) {
    scope.complete(i, result);
    return result;
  }
  const outputs = result.outputs ?? {};
  scope.values[i] = outputs;
  if (result.shownInputs) scope.shown[i] = result.shownInputs;
  if (result.usage) run.usage = addUsage(run.usage, result.usage);
  if (buf) {
    buf.ended = true;
    wakeStream(buf);
  }
  run.emitRaw(
    nodeEndFrame(sid, run.created(), {
      id: node.id,
      alias: node.alias,
      inputs: result.shownInputs ?? inputs,
      outputs: result.shownInputs ? {} : outputs,
      errorOutputs: scope.errorOutputs[i] ?? {},
      ext: result.ext ?? {},
      executedTime: executedTime(run.clock.now() - t0),
      ...(result.usage ? { usage: result.usage } : {}),
      progress: run.progressOf(i),
      content: "",
      reasoning: "",
    }),
    node.id,
  );
  // settle in the same step as the end frame: a capture never sees a node that ended but is not done
  scope.complete(i, result);
  return result;
}

function validate(scope: Scope, node: PlanNode, r: NodeResult): void {
  if (node.branch && r.branch === undefined) {
    throw WorkflowError.of(Codes.ENG_RUN_ERROR, `branch node ${node.id} returned no branch`);
  }
  if (node.branch && r.branch !== undefined) {
    const { edges } = scope.plan;
    const handles = node.out.map((k) => (edges[k] as PlanEdge).handle);
    if (node.out.length > 0 && !handles.includes(r.branch)) {
      // spec §6.3: no edge for the chosen handle → the fallback's edges (decision: the default intent), else 22301
      if (r.fallbackBranch !== undefined && handles.includes(r.fallbackBranch)) r.branch = r.fallbackBranch;
      else throw WorkflowError.of(Codes.ENG_RUN_ERROR, `Branch not found: ${r.branch}`);
    }
  }
  if (r.outputs && node.outputs.length > 0) validateOutputs(node.id, r.outputs, node.outputs);
}

/** One attempt: the plugin's run, its events, and the attempt's timeout (0: none). */
async function runAttempt(
  scope: Scope,
  i: number,
  node: PlanNode,
  inputs: Record<string, unknown>,
  timeoutMs: number,
  buf: StreamBuf | undefined,
  span?: ActiveSpan,
): Promise<NodeResult> {
  const run = scope.run;
  const plugin = run.options.registry.get(node.type);
  // a node gets its own abort signal only when the engine may stop it alone (a timeout, or a stream it reads);
  // any other node stops with the run, and its signal is the run's (no controller, no listener per node)
  const controller = timeoutMs > 0 || buf !== undefined ? new AbortController() : undefined;
  const onAbort = controller ? (): void => controller.abort(run.signal.reason) : undefined;
  if (onAbort) run.signal.addEventListener("abort", onAbort, { once: true });
  const release = (): void => {
    if (onAbort) run.signal.removeEventListener("abort", onAbort);
  };
  let out: RunOutput;
  try {
    out = plugin.run(nodeContext(scope, i, node, inputs, controller?.signal ?? run.signal, span), node.params);
  } catch (e) {
    release();
    throw e;
  }
  // a synchronous answer cannot be late: no timeout timer for it (a timer cannot interrupt synchronous code anyway)
  if (!isAsyncIterator(out) && !isThenable(out)) {
    release();
    return out;
  }
  const started = out;
  const work = (async (): Promise<NodeResult> => {
    if (isAsyncIterator(started)) {
      for (;;) {
        const step = await started.next();
        if (step.done) return step.value;
        onEvent(scope, node, buf, step.value);
      }
    }
    return await started;
  })();
  try {
    if (timeoutMs <= 0) return await work;
    let timer: Promise<never> | undefined;
    const tc = new AbortController();
    timer = run.clock.sleep(timeoutMs, tc.signal).then(() => {
      throw WorkflowError.of(Codes.NODE_RUN_ERROR, "Node execution timeout");
    });
    try {
      return await Promise.race([work, timer]);
    } finally {
      tc.abort();
      timer.catch(() => undefined);
    }
  } catch (e) {
    controller?.abort(e);
    work.catch(() => undefined);
    throw e;
  } finally {
    release();
  }
}

function onEvent(scope: Scope, node: PlanNode, buf: StreamBuf | undefined, ev: NodeEvent): void {
  if (!buf) return; // only stream sources feed output nodes
  if (ev.type === "chunk") {
    if (ev.content) buf.content.push(ev.content);
    if (ev.reasoning) buf.reasoning.push(ev.reasoning);
  } else {
    if (ev.content) buf.reasoning.push(ev.content);
  }
  // spec §6.7: after the first token the fail branch can no longer be taken
  if (buf.content.length + buf.reasoning.length === 1) {
    const { edges } = scope.plan;
    for (const k of node.out) {
      const e = edges[k] as PlanEdge;
      if (!e.fail || scope.edge[k] !== UNKNOWN) continue;
      const alsoNormal = node.out.some((k2) => !(edges[k2] as PlanEdge).fail && (edges[k2] as PlanEdge).to === e.to);
      if (!alsoNormal) scope.settleEdge(k, false);
    }
  }
  wakeStream(buf);
}

/** What a plugin runs with (an output node's too, see relay.ts); hands over the pending answer if it is this node's. */
export function nodeContext(
  scope: Scope,
  i: number,
  node: PlanNode,
  inputs: Record<string, unknown>,
  signal: AbortSignal,
  span?: ActiveSpan,
): NodeContext {
  const run = scope.run;
  const opts = run.options;
  const fetch = opts.fetch ?? notConfiguredFetch;
  const resume = scope.resume && i === scope.resumeNode ? takeResume(scope) : undefined;
  const ctx: NodeContext = {
    nodeId: node.id,
    type: node.type,
    alias: node.alias,
    inputs,
    inputIds: node.inputs.flatMap((x) => (x.id === undefined ? [] : [{ id: x.id, name: x.name }])),
    outputs: node.outputs,
    run: opts.info,
    // the request's parameters (or an iteration item) go to the start node of this graph
    parameters: i === scope.start ? scope.parameters : {},
    signal,
    readTimeoutMs: node.retryable && node.retry.shouldRetry ? nodeTimeoutMs(node.retry, opts.config ?? {}) : 0,
    nodeTimeoutMs: nodeTimeoutMs(node.retry, opts.config ?? {}),
    clock: run.clock,
    // issue 17: every call a node makes is a client span of its attempt and carries that span's traceparent
    fetch: span ? tracedFetch(fetch, span) : fetch,
    trace: span,
    openSocket: opts.openSocket ?? defaultSocket,
    kv: opts.kv ?? notConfiguredKv,
    ...(opts.sql ? { sql: opts.sql } : {}),
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
    config: opts.config ?? {},
    render: (template, mode = "json") => renderTemplate(template, inputs, mode),
    runSubgraph: (startId, startOutputs) => scope.subgraph(i, startId, startOutputs),
    log: (line) => opts.log?.(`[${node.id}] ${line}`),
    ...(resume ? { resume } : {}),
  };
  return ctx;
}

function takeResume(scope: Scope): ResumeAnswer | undefined {
  const r = scope.resume;
  scope.resume = undefined;
  scope.resumeNode = -1;
  return r;
}

function isThenable(v: unknown): v is PromiseLike<NodeResult> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

export function isAsyncIterator(v: unknown): v is AsyncGenerator<NodeEvent, NodeResult, undefined> {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { next?: unknown }).next === "function" &&
    Symbol.asyncIterator in v
  );
}

export async function drain(gen: AsyncGenerator<NodeEvent, NodeResult, undefined>): Promise<NodeResult> {
  for (;;) {
    const step = await gen.next();
    if (step.done) return step.value;
  }
}

const notConfiguredFetch: GuardedFetch = () =>
  Promise.reject(WorkflowError.of(Codes.NODE_RUN_ERROR, "outbound fetch is not configured for this run"));

const defaultSocket = createSocketOpener({ errorCode: Codes.SPARK_REQUEST_ERROR });

const notConfiguredKv: KeyValuePort = {
  hgetall: () =>
    Promise.reject(WorkflowError.of(Codes.VARIABLE_NODE_EXECUTION_ERROR, "variable storage is not configured")),
  hset: () =>
    Promise.reject(WorkflowError.of(Codes.VARIABLE_NODE_EXECUTION_ERROR, "variable storage is not configured")),
};
