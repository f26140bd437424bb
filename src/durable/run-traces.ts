// Issue 17: a run object's side of tracing. It decides the run's trace when the run is created (a child of the
// caller's traceparent, else a new trace), hands the engine its tracer, records the root span when the run ends (and
// the wait span of an answer that never came, and each webhook callback delivery), buffers the spans and exports
// them after the answer, in the background (ctx.waitUntil): a collector that is down or slow never delays or fails
// a run. Without an OTLP endpoint every method here returns at once.
import type { ErrorData, GuardedFetch } from "../engine/index.ts";
import {
  newSpanId,
  newTraceId,
  parseTraceparent,
  RunTracer,
  SPAN_KIND_SERVER,
  tracedFetch,
  type SpanRecord,
} from "../engine/trace.ts";
import { BATCH_SPANS, otelConfig, spanQueue, type OtelConfig, type OtelEnv } from "./otlp-export.ts";
import type { RunRequest, RunRow } from "./run-store.ts";

export class RunTraces {
  readonly #env: OtelEnv;
  readonly #waitUntil: (p: Promise<unknown>) => void;

  constructor(env: OtelEnv, waitUntil: (p: Promise<unknown>) => void) {
    this.#env = env;
    this.#waitUntil = waitUntil;
  }

  get #config(): OtelConfig | null {
    return otelConfig(this.#env);
  }

  /** A new run: its trace (stored with the request, so it survives evictions and is shown by GET /runs/{id}). */
  begin(request: RunRequest): void {
    if (!this.#config || request.trace) return;
    const parent = parseTraceparent(request.traceparent);
    request.trace = {
      traceId: parent?.traceId ?? newTraceId(),
      spanId: newSpanId(),
      ...(parent ? { parentSpanId: parent.spanId } : {}),
      // parent-based sampling: a caller that does not record its trace gets no spans from here either
      flags: parent ? parent.flags & 1 : 1,
    };
  }

  /** The engine's tracer for this run (nothing when the run is not traced). */
  options(request: RunRequest): { tracer?: RunTracer } {
    const tracer = this.#tracer(request);
    return tracer ? { tracer } : {};
  }

  #tracer(request: RunRequest): RunTracer | undefined {
    const config = this.#config;
    const t = request.trace;
    if (!config || !t) return undefined;
    return new RunTracer({
      root: { traceId: t.traceId, spanId: t.spanId, flags: t.flags },
      sink: (span) => this.add(span),
      now: () => Date.now(),
      captureContent: config.captureContent,
      common: { "workflow.run.id": request.eventId },
    });
  }

  /** An answer to a waiting run: its caller is linked from the wait span. */
  resumedBy(tracer: RunTracer | undefined, traceparent: string | undefined): void {
    if (tracer) tracer.resumedBy = parseTraceparent(traceparent);
  }

  add(span: SpanRecord): void {
    const config = this.#config;
    if (!config) return;
    const queue = spanQueue(config);
    queue.add(span);
    if (queue.size >= BATCH_SPANS) this.flushSoon();
  }

  /** The run ended: its root span, then the export of everything buffered. */
  end(head: { request: RunRequest; createdAt: number }, status: string, outcome: ErrorData, now: number): void {
    const r = head.request;
    const t = r.trace;
    if (!t || !this.#config) return;
    if ((t.flags & 1) === 1) {
      this.add({
        traceId: t.traceId,
        spanId: t.spanId,
        ...(t.parentSpanId ? { parentSpanId: t.parentSpanId, parentRemote: true } : {}),
        name: `workflow ${r.flowId}`,
        kind: SPAN_KIND_SERVER,
        start: head.createdAt,
        end: Math.max(head.createdAt, now),
        attributes: {
          "workflow.run.id": r.eventId,
          "workflow.flow.id": r.flowId,
          ...(r.flowVersion ? { "workflow.flow.version": r.flowVersion } : {}),
          "workflow.app.id": r.appId,
          "workflow.mode": r.mode,
          "workflow.status": status,
          "workflow.error.code": outcome.code,
          ...(r.hookId ? { "workflow.hook.id": r.hookId } : {}),
          ...(outcome.code !== 0 ? { "error.type": String(outcome.code) } : {}),
        },
        events: [],
        links: [],
        status: outcome.code !== 0 ? { code: 2, message: outcome.message.slice(0, 300) } : { code: 0 },
      });
    }
    this.flushSoon();
  }

  /** A question that was never answered (23900): its wait span, ended with the error. */
  waitTimedOut(row: RunRow, error: ErrorData, now: number): void {
    const tracer = this.#tracer(row.request);
    const waiting = row.state?.waiting;
    if (!tracer || !waiting || waiting.since === undefined) return;
    const node = row.plan?.nodes[waiting.node];
    const span = tracer.start(
      `wait ${node?.id ?? "?"}`,
      tracer.root,
      0,
      { "workflow.node.id": node?.id ?? "", "workflow.node.type": node?.type ?? "", "workflow.wait.answer": "timeout" },
      waiting.since,
    );
    span.set({ "workflow.wait.duration_ms": Math.max(0, now - waiting.since) });
    span.end(error, now);
  }

  /** One webhook callback delivery as a span of the run's trace (it comes after the run's root span ends). */
  callback(request: RunRequest, base: GuardedFetch, attempt: number): { fetch: GuardedFetch; end: () => void } {
    const tracer = this.#tracer(request);
    if (!tracer) return { fetch: base, end: () => undefined };
    const span = tracer.start("webhook callback", tracer.root, 0, { "workflow.callback.attempt": attempt });
    return {
      fetch: tracedFetch(base, span),
      end: () => {
        span.end();
        this.flushSoon();
      },
    };
  }

  /** Exports what is queued in the background, after the current turn (the answer goes first). */
  flushSoon(): void {
    const config = this.#config;
    if (!config) return;
    const queue = spanQueue(config);
    if (queue.size > 0) this.#waitUntil(queue.flush());
  }
}
