// Issue 17: the run as a trace. The platform-free span model: W3C Trace Context (traceparent) parsing and
// formatting, span ids from the CSPRNG (random.ts: Node, Deno and workerd alike), and a tracer that records
// finished spans into a sink. The engine calls it at node attempts, iteration items and question-answer waits; the
// host (the run object) owns the run's root span, buffers what the sink receives and exports it (OTLP).
//
// Nothing here runs unless a host hands a tracer to the run: a run without one creates no span and no id.
import type { GuardedFetch, GuardedFetchInit } from "./plugin.ts";
import { randomHex } from "./random.ts";

/** A span's identity as W3C Trace Context carries it: 32 and 16 lowercase hex digits, and the trace flags. */
export interface SpanContext {
  traceId: string;
  spanId: string;
  /** bit 0: sampled */
  flags: number;
}

/** OTLP span kinds, as the SDK's SpanKind enum numbers them (internal 0, server 1, client 2, producer 3, consumer 4). */
export type SpanKind = 0 | 1 | 2 | 3 | 4;
export const SPAN_KIND_INTERNAL: SpanKind = 0;
export const SPAN_KIND_SERVER: SpanKind = 1;
export const SPAN_KIND_CLIENT: SpanKind = 2;

export type AttributeValue = string | number | boolean | string[];
export type Attributes = Record<string, AttributeValue>;

/** A finished span, in ms since the epoch (the exporter turns them into nanoseconds). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** the parent came from another service (an incoming traceparent) */
  parentRemote?: boolean;
  name: string;
  kind: SpanKind;
  start: number;
  end: number;
  attributes: Attributes;
  events: { name: string; time: number; attributes?: Attributes }[];
  links: { traceId: string; spanId: string; attributes?: Attributes }[];
  /** 0 unset, 1 ok, 2 error (OTLP StatusCode) */
  status: { code: 0 | 1 | 2; message?: string };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * A `traceparent` header value per W3C Trace Context level 1, strictly: lowercase hex, version `ff` refused, all-zero
 * trace and span ids refused, version 00 with exactly four fields; a later version may carry more after a dash.
 * Anything else is `undefined` (an invalid header is ignored, never an error).
 */
export function parseTraceparent(value: string | null | undefined): SpanContext | undefined {
  if (typeof value !== "string" || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  if (version === "ff") return undefined;
  if (version === "00" && rest !== undefined) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(c: SpanContext): string {
  return `00-${c.traceId}-${c.spanId}-${(c.flags & 0xff).toString(16).padStart(2, "0")}`;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** What a run's tracer knows: where its spans hang, and where finished spans go. */
export interface TracerOptions {
  /** the run's root span (created and ended by the host) */
  root: SpanContext;
  /** receives every finished span of a sampled trace */
  sink: (span: SpanRecord) => void;
  now: () => number;
  /** OTEL_CAPTURE_CONTENT=true: prompts and completions go into GenAI spans */
  captureContent?: boolean;
  /** attributes every span of the run carries (the run id, so that a span found alone leads back to its run) */
  common?: Attributes;
}

/** A span in progress. `end` records it (once); attributes and events set later are ignored. */
export class ActiveSpan {
  readonly context: SpanContext;
  readonly #tracer: RunTracer;
  readonly #record: SpanRecord;
  #ended = false;

  constructor(tracer: RunTracer, record: SpanRecord, flags: number) {
    this.#tracer = tracer;
    this.#record = record;
    this.context = { traceId: record.traceId, spanId: record.spanId, flags };
  }

  get traceparent(): string {
    return formatTraceparent(this.context);
  }

  get captureContent(): boolean {
    return this.#tracer.captureContent;
  }

  get ended(): boolean {
    return this.#ended;
  }

  set(attributes: Attributes): void {
    if (!this.#ended) Object.assign(this.#record.attributes, attributes);
  }

  event(name: string, attributes?: Attributes): void {
    if (!this.#ended)
      this.#record.events.push({ name, time: this.#tracer.now(), ...(attributes ? { attributes } : {}) });
  }

  link(context: SpanContext, attributes?: Attributes): void {
    if (!this.#ended)
      this.#record.links.push({
        traceId: context.traceId,
        spanId: context.spanId,
        ...(attributes ? { attributes } : {}),
      });
  }

  /** a child of this span */
  child(name: string, kind: SpanKind = SPAN_KIND_INTERNAL, attributes: Attributes = {}, start?: number): ActiveSpan {
    return this.#tracer.start(name, this.context, kind, attributes, start);
  }

  /** Ends the span: ok, or an error with its code (`error.type`) and a client-safe message. */
  end(error?: { code: number | string; message?: string }, at?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    const r = this.#record;
    r.end = Math.max(r.start, at ?? this.#tracer.now());
    if (error) {
      r.attributes["error.type"] = String(error.code);
      r.status = { code: 2, ...(error.message ? { message: error.message.slice(0, 300) } : {}) };
    }
    this.#tracer.finish(r, this.context.flags);
  }

  /** A fetch whose calls are client spans under this span and send their traceparent (see `tracedFetch`). */
  fetch(base: GuardedFetch): GuardedFetch {
    return tracedFetch(base, this);
  }
}

/** The tracer of one run: node attempts, iteration items and waits become spans under the run's root span. */
export class RunTracer {
  readonly root: SpanContext;
  readonly captureContent: boolean;
  readonly #sink: (span: SpanRecord) => void;
  readonly #common: Attributes;
  readonly now: () => number;
  /** the answer's traceparent when a waiting run is resumed: a link on the wait span (set by the host) */
  resumedBy: SpanContext | undefined;

  constructor(o: TracerOptions) {
    this.root = o.root;
    this.#sink = o.sink;
    this.now = o.now;
    this.captureContent = o.captureContent === true;
    this.#common = o.common ?? {};
  }

  start(name: string, parent: SpanContext, kind: SpanKind, attributes: Attributes, start?: number): ActiveSpan {
    const t = start ?? this.now();
    const record: SpanRecord = {
      traceId: parent.traceId,
      spanId: newSpanId(),
      parentSpanId: parent.spanId,
      name,
      kind,
      start: t,
      end: t,
      attributes: { ...this.#common, ...attributes },
      events: [],
      links: [],
      status: { code: 0 },
    };
    return new ActiveSpan(this, record, parent.flags);
  }

  finish(record: SpanRecord, flags: number): void {
    // an unsampled trace still propagates its context, but records nothing
    if ((flags & 1) === 1) this.#sink(record);
  }

  /** A node attempt (1 for the first, more for retries and for the answer of a question-answer node). */
  attempt(
    parent: SpanContext | undefined,
    node: { id: string; type: string; alias: string },
    attempt: number,
    start?: number,
  ): ActiveSpan {
    return this.start(
      node.id,
      parent ?? this.root,
      SPAN_KIND_INTERNAL,
      {
        "workflow.node.id": node.id,
        "workflow.node.type": node.type,
        "workflow.node.alias": node.alias,
        "workflow.node.attempt": attempt,
      },
      start,
    );
  }

  /** The wait for a question-answer node's answer, from the question (`since`) to now: a finished span. */
  wait(node: { id: string; type: string; alias: string }, since: number, answer: string): void {
    const span = this.start(
      `wait ${node.id}`,
      this.root,
      SPAN_KIND_INTERNAL,
      {
        "workflow.node.id": node.id,
        "workflow.node.type": node.type,
        "workflow.node.alias": node.alias,
        "workflow.wait.answer": answer,
      },
      since,
    );
    const by = this.resumedBy;
    this.resumedBy = undefined;
    if (by) span.link(by, { "workflow.link": "resume" });
    span.set({ "workflow.wait.duration_ms": Math.max(0, this.now() - since) });
    span.end();
  }
}

/** `url.full` without credentials: the userinfo goes, every query value becomes REDACTED (keys stay). */
export function redactUrl(url: URL): string {
  const u = new URL(url.toString());
  u.username = "";
  u.password = "";
  for (const key of [...new Set(u.searchParams.keys())]) u.searchParams.set(key, "REDACTED");
  u.hash = "";
  return u.toString();
}

/**
 * Every call through the returned fetch is a client span under `parent` (OpenTelemetry HTTP client conventions:
 * `http.request.method`, `server.address`, `server.port`, `url.full` without secrets, `http.response.status_code`,
 * `error.type`) and sends that span's `traceparent`. The span ends when the response headers arrive (a streamed body
 * belongs to the caller's span).
 */
export function tracedFetch(traced: GuardedFetch, parent: ActiveSpan): GuardedFetch {
  // a span's fetch made from a node's (already traced) fetch traces the call once, under the inner span
  const base = untraced.get(traced) ?? traced;
  const fetch: GuardedFetch = async (input, init: GuardedFetchInit = {}) => {
    let url: URL;
    try {
      url = new URL(String(input));
    } catch {
      return base(input, init);
    }
    const method = (init.method ?? "GET").toUpperCase();
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    const span = parent.child(method, SPAN_KIND_CLIENT, {
      "http.request.method": method,
      "server.address": url.hostname,
      "server.port": port,
      "url.full": redactUrl(url),
    });
    const headers = new Headers(init.headers);
    headers.set("traceparent", span.traceparent);
    try {
      const res = await base(input, { ...init, headers });
      span.set({ "http.response.status_code": res.status });
      span.end(res.status >= 400 ? { code: String(res.status) } : undefined);
      return res;
    } catch (e) {
      // a coded error's message is client-safe; anything else is the platform's text and stays out of the span
      const coded = typeof (e as { code?: unknown } | undefined)?.code === "number";
      span.end(coded ? { code: (e as { code: number }).code, message: (e as Error).message } : { code: "_OTHER" });
      throw e;
    }
  };
  untraced.set(fetch, base);
  return fetch;
}

/** the fetch each traced fetch wraps */
const untraced = new WeakMap<GuardedFetch, GuardedFetch>();
