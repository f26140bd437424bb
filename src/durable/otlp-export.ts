// Issue 17: OTLP/HTTP export of a run's spans. Configuration is the standard OpenTelemetry environment:
// OTEL_EXPORTER_OTLP_ENDPOINT (traces go to `<base>/v1/traces`) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is),
// OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, URL-decoded), OTEL_EXPORTER_OTLP_PROTOCOL (`http/protobuf`, the default,
// or `http/json`), OTEL_EXPORTER_OTLP_TIMEOUT (ms, default 5000), OTEL_SERVICE_NAME, OTEL_CAPTURE_CONTENT.
//
// Encoding is @opentelemetry/otlp-transformer's (its protobuf writer is plain JavaScript: no eval, no protobufjs, so
// it runs on workerd); only the mapping of our span records onto its ReadableSpan shape is ours. The collector is
// operator configuration, not a user URL: it is not subject to the private-address guard (a collector on the
// operator's own network is normal), but every export has a timeout and a failure never reaches the run.
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { Attributes as EngineAttributes, SpanRecord } from "../engine/trace.ts";

type ReadableSpan = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0][number];
type Resource = ReadableSpan["resource"];

export interface OtelEnv {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  OTEL_EXPORTER_OTLP_TRACES_HEADERS?: string;
  OTEL_EXPORTER_OTLP_PROTOCOL?: string;
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?: string;
  OTEL_EXPORTER_OTLP_TIMEOUT?: string;
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT?: string;
  OTEL_SERVICE_NAME?: string;
  OTEL_CAPTURE_CONTENT?: string;
  /** "false" turns tracing off while an endpoint is configured */
  OTEL_TRACES_ENABLED?: string;
}

export interface OtelConfig {
  url: string;
  headers: Record<string, string>;
  json: boolean;
  timeoutMs: number;
  serviceName: string;
  captureContent: boolean;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** spans an isolate holds for export before it drops new ones (each is a few hundred bytes) */
export const MAX_BUFFERED_SPANS = 4096;
/** spans per export request; a fuller buffer is sent at once */
export const BATCH_SPANS = 512;

const configs = new WeakMap<object, OtelConfig | null>();

/** The exporter's configuration, or null when no endpoint is set (tracing off: no ids, no spans, no cost). */
export function otelConfig(env: OtelEnv): OtelConfig | null {
  const cached = configs.get(env);
  if (cached !== undefined) return cached;
  const config = readConfig(env);
  configs.set(env, config);
  return config;
}

function readConfig(env: OtelEnv): OtelConfig | null {
  if (env.OTEL_TRACES_ENABLED === "false") return null;
  let url: string;
  try {
    if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) url = new URL(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toString();
    else if (env.OTEL_EXPORTER_OTLP_ENDPOINT)
      url = new URL(`${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`).toString();
    else return null;
  } catch {
    console.log("[otel] OTEL_EXPORTER_OTLP_ENDPOINT is not a URL: traces are off");
    return null;
  }
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf";
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? DEFAULT_TIMEOUT_MS);
  return {
    url,
    headers: {
      ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    },
    json: protocol === "http/json",
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, 60_000) : DEFAULT_TIMEOUT_MS,
    serviceName: env.OTEL_SERVICE_NAME || "astron-edge-workflow",
    captureContent: env.OTEL_CAPTURE_CONTENT === "true",
  };
}

/** `k=v,k2=v2` with URL-encoded keys and values (the OpenTelemetry specification's format); bad pairs are skipped. */
export function parseHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    try {
      const key = decodeURIComponent(pair.slice(0, at).trim());
      const value = decodeURIComponent(pair.slice(at + 1).trim());
      if (key && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) out[key] = value;
    } catch {
      // a malformed escape: the pair is skipped
    }
  }
  return out;
}

/** Export outcomes of this isolate (a collector that is down costs a count here and a log line, nothing else). */
export const exportCounters = { exported: 0, failed: 0, dropped: 0 };

/**
 * The spans of every run object in this isolate, waiting for export: bounded, sent in batches. One export at a time:
 * while one is on its way, what runs add meanwhile waits for the next, so under load one request carries the spans
 * of many runs (run objects of one class share an isolate under workerd; where each has its own, nothing changes).
 */
export class SpanQueue {
  readonly #config: OtelConfig;
  readonly spans: SpanRecord[] = [];
  #running: Promise<void> | undefined;
  #warned = false;

  constructor(config: OtelConfig) {
    this.#config = config;
  }

  get size(): number {
    return this.spans.length;
  }

  add(span: SpanRecord): void {
    if (this.spans.length >= MAX_BUFFERED_SPANS) {
      exportCounters.dropped++;
      if (!this.#warned) console.log(`[otel] span buffer full (${MAX_BUFFERED_SPANS}): spans dropped`);
      this.#warned = true;
      return;
    }
    this.spans.push(span);
  }

  /**
   * Exports what is queued, in the background, starting after the current turn (the answer goes first): the
   * returned promise (for ctx.waitUntil) settles when the queue is empty. Never rejects.
   */
  flush(): Promise<void> {
    if (this.#running) return this.#running;
    const run = (async (): Promise<void> => {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      while (this.spans.length > 0) await exportSpans(this.#config, this.spans.splice(0, BATCH_SPANS));
    })().finally(() => {
      this.#running = undefined;
      // spans added while the last request was on its way and after the loop saw the queue empty
      if (this.spans.length > 0) void this.flush();
    });
    this.#running = run;
    return run;
  }
}

const queues = new Map<string, SpanQueue>();

/** This isolate's queue for a collector (run objects may each hold their own env object: keyed by the endpoint). */
export function spanQueue(config: OtelConfig): SpanQueue {
  const key = `${config.url} ${config.json ? "json" : "protobuf"} ${config.serviceName}`;
  let q = queues.get(key);
  if (!q) queues.set(key, (q = new SpanQueue(config)));
  return q;
}

const resources = new Map<string, Resource>();
const scope = { name: "astron-edge-workflow", version: "0.1.0" };

function resourceFor(serviceName: string): Resource {
  let r = resources.get(serviceName);
  if (!r) {
    const attributes = { "service.name": serviceName, "telemetry.sdk.language": "webjs" };
    const resource: Resource = {
      attributes,
      merge: () => resource,
      getRawAttributes: () => Object.entries(attributes),
    };
    resources.set(serviceName, (r = resource));
  }
  return r;
}

function hr(ms: number): [number, number] {
  const whole = Math.floor(ms);
  const s = Math.floor(whole / 1000);
  return [s, (whole - s * 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000)];
}

function attrs(a: EngineAttributes): ReadableSpan["attributes"] {
  return a;
}

/** Our span records as the ReadableSpan shape otlp-transformer serialises. */
export function toReadableSpans(spans: readonly SpanRecord[], serviceName: string): ReadableSpan[] {
  const resource = resourceFor(serviceName);
  return spans.map((r): ReadableSpan => {
    const context = { traceId: r.traceId, spanId: r.spanId, traceFlags: 1 };
    const start = hr(r.start);
    const end = hr(r.end);
    return {
      name: r.name,
      kind: r.kind as ReadableSpan["kind"],
      spanContext: () => context,
      ...(r.parentSpanId
        ? {
            parentSpanContext: {
              traceId: r.traceId,
              spanId: r.parentSpanId,
              traceFlags: 1,
              isRemote: r.parentRemote === true,
            },
          }
        : {}),
      startTime: start,
      endTime: end,
      duration: hr(r.end - r.start),
      ended: true,
      status: {
        code: r.status.code as ReadableSpan["status"]["code"],
        ...(r.status.message ? { message: r.status.message } : {}),
      },
      attributes: attrs(r.attributes),
      links: r.links.map((l) => ({
        context: { traceId: l.traceId, spanId: l.spanId, traceFlags: 1 },
        ...(l.attributes ? { attributes: attrs(l.attributes) } : {}),
      })),
      events: r.events.map((e) => ({
        name: e.name,
        time: hr(e.time),
        ...(e.attributes ? { attributes: attrs(e.attributes) } : {}),
      })),
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  });
}

/** The request body and its content type. */
export function encodeSpans(
  spans: readonly SpanRecord[],
  config: Pick<OtelConfig, "json" | "serviceName">,
): {
  body: Uint8Array;
  contentType: string;
} {
  const readable = toReadableSpans(spans, config.serviceName);
  const serializer = config.json ? JsonTraceSerializer : ProtobufTraceSerializer;
  return {
    body: serializer.serializeRequest(readable) ?? new Uint8Array(0),
    contentType: config.json ? "application/json" : "application/x-protobuf",
  };
}

/**
 * Sends one batch. Never throws: a collector that is down, slow (past the timeout) or refusing costs a counter and
 * one log line naming the endpoint's host and the status (never the headers, which carry credentials).
 */
export async function exportSpans(config: OtelConfig, spans: readonly SpanRecord[]): Promise<boolean> {
  if (spans.length === 0) return true;
  let host = "";
  try {
    host = new URL(config.url).host;
    const { body, contentType } = encodeSpans(spans, config);
    const res = await fetch(config.url, {
      method: "POST",
      headers: { ...config.headers, "Content-Type": contentType },
      body,
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    exportCounters.exported += spans.length;
    return true;
  } catch (e) {
    exportCounters.failed += spans.length;
    const why =
      e instanceof Error && e.name === "TimeoutError"
        ? `no answer within ${config.timeoutMs} ms`
        : e instanceof Error && /^HTTP \d+$/.test(e.message)
          ? e.message
          : "unreachable";
    console.log(
      `[otel] export of ${spans.length} spans to ${host} failed (${why}); failed so far: ${exportCounters.failed}`,
    );
    return false;
  }
}
