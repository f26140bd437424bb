// Output nodes (spec §6.6): launched early, they wait at their gates, render their templates unit by unit and relay
// the tokens of the stream sources they read as those arrive; their frames go out one node at a time, in the order
// their first frames arrived (the serialiser).
import { drain, isAsyncIterator, nodeContext, poolOf, resolveInputs } from "./attempts.ts";
import type { PlanNode } from "./compile.ts";
import { toWorkflowError } from "./errors.ts";
import { executedTime, nodeEndFrame, nodeProcessFrame, nodeStartFrame } from "./frames.ts";
import type { NodeResult } from "./plugin.ts";
import { resolveRefSegments } from "./refs.ts";
import type { Scope } from "./scope.ts";
import { DONE, RUNNING, SKIPPED, type StreamBuf } from "./states.ts";
import { compactJson, parseTemplate, readPath, renderValue, type TemplateUnit } from "./template.ts";
import type { Frame } from "./types.ts";
import { outputDefault } from "./values.ts";

/** Output-node channel read timeout (spec §6.6, §6.11): the unit ends silently. */
const CHANNEL_TIMEOUT_MS = 120_000;

/**
 * Frames of output nodes are serialised (spec §2.5): all frames of one output node go out before any frame of the
 * next; the next is the one whose first frame arrived first.
 */
export class OutputSerializer {
  active: string | null = null;
  readonly queues = new Map<string, { frames: Frame[]; done: boolean }>();
  readonly #out: (frame: Frame) => void;
  constructor(out: (frame: Frame) => void) {
    this.#out = out;
  }

  push(key: string, frame: Frame, last: boolean): void {
    if (this.active === null) this.active = key;
    if (key === this.active) {
      this.#out(frame);
      if (last) this.#advance();
      return;
    }
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = { frames: [], done: false }));
    q.frames.push(frame);
    if (last) q.done = true;
  }

  #advance(): void {
    this.active = null;
    for (const [key, q] of this.queues) {
      this.queues.delete(key);
      for (const f of q.frames) this.#out(f);
      if (!q.done) {
        this.active = key;
        return;
      }
    }
  }

  flush(): void {
    for (const [key, q] of this.queues) {
      this.queues.delete(key);
      for (const f of q.frames) this.#out(f);
    }
    this.active = null;
  }
}

// ---- output nodes (spec §6.6) ---------------------------------------------------------------------------------------

/**
 * Launches an output node once (spec §6.6.1: early, before the nodes it reads start; or when the scheduler reaches
 * it); every later call returns the same task.
 */
export function launchOutput(scope: Scope, m: number): Promise<NodeResult | undefined> {
  let p = scope.launched.get(m);
  if (!p) {
    p = runOutput(scope, m);
    // failures surface when the scheduler reaches the node; avoid unhandled rejections for early launches
    p.catch(() => undefined);
    scope.launched.set(m, p);
  }
  return p;
}

async function runOutput(scope: Scope, m: number): Promise<NodeResult | undefined> {
  const run = scope.run;
  const node = scope.plan.nodes[m] as PlanNode;
  const spec = node.answer;
  if (!spec) throw new Error("not an output node");
  // stable keys in the main graph (they survive capture/restore); inner graphs get one prefix per execution
  const key = scope.id === -1 ? node.id : `${scope.keyPrefix}${node.id}`;
  await scope.waitSettled(node.gatesBefore);
  if (scope.status[m] === SKIPPED && !spec.isEnd) return undefined;
  const sid = run.options.sid;
  const t0 = run.clock.now();
  const ref = { id: node.id, alias: node.alias };
  const ext = spec.isEnd ? { answer_mode: spec.mode } : undefined;
  run.emitOutput(key, node.id, nodeStartFrame(sid, run.created(), ref, run.progressOf(m)), false);

  // Render the templates unit by unit; with streamOutput every chunk but the very last is a process frame.
  let held: { content: string; reasoning: string } | undefined;
  let answer = "";
  let reasoning = "";
  // the held chunk goes out as a process frame: when a newer one arrives, or when a source breaks mid-stream (it
  // will never be the end frame's)
  const flushHeld = (): void => {
    if (!held) return;
    run.emitOutput(
      key,
      node.id,
      nodeProcessFrame(
        sid,
        run.created(),
        ref,
        run.progressOf(m),
        executedTime(run.clock.now() - t0),
        held.content,
        held.reasoning,
        ext,
      ),
      false,
    );
    held = undefined;
  };
  const emitChunk = (content: string, isReasoning: boolean): void => {
    if (isReasoning) reasoning += content;
    else answer += content;
    if (!spec.streamOutput) return;
    flushHeld();
    held = isReasoning ? { content: "", reasoning: content } : { content, reasoning: "" };
  };
  if (spec.mode === 1) {
    const names = new Set(node.inputs.map((x) => x.name));
    if (spec.isEnd && spec.reasoningTemplate) {
      await renderUnits(
        scope,
        node,
        parseTemplate(spec.reasoningTemplate, names),
        (c) => emitChunk(c, true),
        flushHeld,
      );
    }
    await renderUnits(scope, node, parseTemplate(spec.template, names), (c) => emitChunk(c, false), flushHeld);
  }
  await scope.waitSettled(node.sources);
  if (scope.status[m] === SKIPPED && !spec.isEnd) {
    run.emitOutput(
      key,
      node.id,
      nodeEndFrame(sid, run.created(), {
        ...ref,
        inputs: {},
        outputs: {},
        errorOutputs: {},
        ext: {},
        executedTime: executedTime(run.clock.now() - t0),
        progress: run.progressOf(m),
        content: "",
        reasoning: "",
      }),
      true,
    );
    return undefined;
  }
  // issue 17: an output node that is not skipped is one span, from its launch (skipped ones are no span)
  const span = run.options.tracer?.attempt(scope.parentSpan, node, 1, t0);
  let result: NodeResult;
  let inputs: Record<string, unknown>;
  try {
    inputs = resolveInputs(scope, node);
    const plugin = run.options.registry.get(node.type);
    const out = plugin.run(nodeContext(scope, m, node, inputs, run.signal, span), node.params);
    result = isAsyncIterator(out) ? await drain(out) : await out;
  } catch (e) {
    span?.set({ "workflow.node.outcome": "error" });
    span?.end(toWorkflowError(e, node.errorCode));
    throw e;
  }
  span?.set({ "workflow.node.outcome": "success" });
  span?.end();
  const outputs = result.outputs ?? {};
  let content: string;
  let reason: string;
  if (spec.mode === 0) {
    content = compactJson(outputs);
    reason = "";
  } else if (spec.streamOutput) {
    content = held?.content ?? "";
    reason = held?.reasoning ?? "";
  } else {
    content = answer;
    reason = reasoning;
  }
  scope.values[m] = outputs;
  run.emitOutput(
    key,
    node.id,
    nodeEndFrame(sid, run.created(), {
      ...ref,
      inputs,
      outputs,
      errorOutputs: {},
      ext: {},
      executedTime: executedTime(run.clock.now() - t0),
      progress: run.progressOf(m),
      content,
      reasoning: reason,
    }),
    true,
  );
  if (scope.status[m] === RUNNING) scope.complete(m, result);
  return result;
}

async function renderUnits(
  scope: Scope,
  node: PlanNode,
  units: TemplateUnit[],
  emit: (chunk: string) => void,
  flush: () => void = () => undefined,
): Promise<void> {
  for (const unit of units) {
    if (unit.kind === "text") {
      emit(unit.text);
      continue;
    }
    const input = node.inputs.find((x) => x.name === unit.name);
    if (!input) {
      emit(`{{${unit.raw}}}`);
      continue;
    }
    if (input.kind === "literal") {
      const r = readPath(input.value, unit.path, unit.raw);
      emit(r.found ? renderValue(r.value, "json") : unit.raw);
      continue;
    }
    const src = input.ref ?? -1;
    const source = scope.plan.nodes[src];
    if (src >= 0 && source && source.stream && unit.path.length === 0 && !isQuiet(source, input.path)) {
      await scope.waitStarted(src);
      if (scope.status[src] === SKIPPED) continue;
      const reasoningStream = input.path === "REASONING_CONTENT" || input.path === "reasoning_content";
      const relayed = await relayTokens(scope, src, reasoningStream, emit, flush);
      // a source that streamed nothing at all (a sub-flow in variable mode) is rendered from its variable
      if (relayed === "tokens") continue;
      if (relayed === "empty" && scope.status[src] !== DONE) continue;
      // error marker: render from the pool instead (spec §6.6 step 3)
    }
    if (src >= 0) await scope.waitSettled([src]);
    if (src >= 0 && scope.status[src] === SKIPPED) {
      // a skipped source renders its defaults
    }
    const value = readInput(scope, input);
    const r = readPath(value, unit.path, unit.raw);
    emit(r.found ? renderValue(r.value, "json") : unit.raw);
  }
}

function readInput(scope: Scope, input: PlanNode["inputs"][number]): unknown {
  if (input.kind === "literal") return input.value;
  const r = input.ref ?? -1;
  const source = scope.plan.nodes[r];
  if (!source) return null;
  const values = poolOf(scope, r);
  try {
    return resolveRefSegments(source.id, values, source.outputs, input.segments ?? [input.path]);
  } catch {
    const first = source.outputs.find((o) => o.name === input.path);
    return first ? outputDefault(first.schema) : null;
  }
}

/**
 * Relays a stream source's tokens until its end marker: "tokens" when some were relayed, "empty" when the source
 * ended without any, "error" on an error marker (the unit is then rendered from the pool, spec §6.6 step 3).
 */
async function relayTokens(
  scope: Scope,
  src: number,
  reasoningStream: boolean,
  emit: (chunk: string) => void,
  flush: () => void,
): Promise<"tokens" | "empty" | "error"> {
  const buf = scope.stream(src);
  let idx = 0;
  let first = true;
  const relay = (token: string): void => {
    // the host learns (and may persist) that a source still running has shown tokens before the first one can
    // reach a frame; a settled source never runs again, so it needs no mark
    if (first && !scope.isSettled(src)) scope.run.tokensShown(src);
    first = false;
    emit(token);
  };
  const drain = (): void => {
    const list = reasoningStream ? buf.reasoning : buf.content;
    while (idx < list.length) relay(list[idx++] as string);
    flush();
  };
  let drains = scope.breakDrains.get(src);
  if (!drains) scope.breakDrains.set(src, (drains = new Set()));
  drains.add(drain);
  try {
    for (;;) {
      const list = reasoningStream ? buf.reasoning : buf.content;
      while (idx < list.length) relay(list[idx++] as string);
      if (buf.errored) return "error";
      if (buf.ended || scope.isSettled(src)) {
        const rest = reasoningStream ? buf.reasoning : buf.content;
        while (idx < rest.length) relay(rest[idx++] as string);
        if (buf.errored) return "error";
        return buf.content.length + buf.reasoning.length > 0 ? "tokens" : "empty";
      }
      const woke = await nextToken(scope, buf);
      if (!woke) return "tokens"; // channel read timeout: the unit ends silently
    }
  } finally {
    drains.delete(drain);
  }
}

function nextToken(scope: Scope, buf: StreamBuf): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const signal = scope.run.signal;
    const tc = new AbortController();
    const onAbort = (): void => {
      tc.abort();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    buf.wake.push(() => {
      tc.abort();
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    });
    scope.run.clock.sleep(CHANNEL_TIMEOUT_MS, tc.signal).then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve(false);
      },
      () => undefined,
    );
  });
}

/** Is `path` (an output name, maybe with a sub-path) one of the source's outputs that never stream? */
function isQuiet(source: PlanNode, path: string): boolean {
  const quiet = source.quiet;
  if (!quiet) return false;
  return quiet.some((q) => path === q || path.startsWith(`${q}.`) || path.startsWith(`${q}[`));
}
