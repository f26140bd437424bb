// A fake OpenTelemetry collector (issue 17): OTLP/HTTP on POST /v1/traces, protobuf (`application/x-protobuf`) or
// JSON (`application/json`). It decodes what it gets on its own — a protobuf wire reader with the message layout of
// the official opentelemetry-proto definitions (collector/trace/v1 ExportTraceServiceRequest, trace/v1, common/v1,
// resource/v1: field numbers and wire types below), and for JSON the proto3 JSON mapping of the same messages (an
// unknown field is an error) — so an encoder that got a field wrong fails the tests that read its spans.
//
// `GET /__spans` lists the decoded spans, `GET /__requests` what arrived (content type, headers, bytes, decode
// error), `POST /__mode?m=ok|hang|down|error` makes it answer, never answer, drop the connection or answer 503.
import { createServer, type Server, type ServerResponse } from "node:http";

export type AnyValue = string | number | boolean | AnyValue[] | { [k: string]: AnyValue } | Uint8Array | null;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  kind: number;
  /** nanoseconds since the epoch, as decimal strings (they do not fit a double) */
  startNs: string;
  endNs: string;
  /** the same in ms (for comparisons) */
  start: number;
  end: number;
  attributes: Record<string, AnyValue>;
  events: { name: string; timeNs: string; attributes: Record<string, AnyValue> }[];
  links: { traceId: string; spanId: string; attributes: Record<string, AnyValue> }[];
  status: { code: number; message: string };
  resource: Record<string, AnyValue>;
  scope: { name: string; version: string };
}

export interface OtlpRequest {
  contentType: string;
  headers: Record<string, string>;
  bytes: number;
  spans: number;
  error: string | null;
}

// ---- protobuf wire reader ----------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error("varint too long");
    }
  }
  fixed64(): bigint {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getBigUint64(0, true);
    this.pos += 8;
    return v;
  }
  fixed32(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getUint32(0, true);
    this.pos += 4;
    return v;
  }
  double(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error("truncated bytes");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(): string {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(this.bytes());
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  /** Reads every field of the message: `on(field, wire)` consumes the value or returns false (skipped). */
  fields(on: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const tag = Number(this.varint());
      const field = tag >>> 3;
      const wire = tag & 7;
      if (!on(field, wire)) this.skip(wire);
    }
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function expectWire(field: string, wire: number, want: number): void {
  if (wire !== want) throw new Error(`${field}: wire type ${wire}, the definition says ${want}`);
}

/** common.v1.AnyValue: string 1, bool 2, int64 3, double 4, ArrayValue 5, KeyValueList 6, bytes 7 */
function anyValue(r: Reader): AnyValue {
  let v: AnyValue = null;
  r.fields((f, w) => {
    if (f === 1) (expectWire("AnyValue.string_value", w, 2), (v = r.string()));
    else if (f === 2) (expectWire("AnyValue.bool_value", w, 0), (v = r.varint() !== 0n));
    else if (f === 3) (expectWire("AnyValue.int_value", w, 0), (v = Number(BigInt.asIntN(64, r.varint()))));
    else if (f === 4) (expectWire("AnyValue.double_value", w, 1), (v = r.double()));
    else if (f === 5) {
      expectWire("AnyValue.array_value", w, 2);
      const inner = new Reader(r.bytes());
      const list: AnyValue[] = [];
      inner.fields((g, gw) =>
        g === 1
          ? (expectWire("ArrayValue.values", gw, 2), list.push(anyValue(new Reader(inner.bytes()))), true)
          : false,
      );
      v = list;
    } else if (f === 6) {
      expectWire("AnyValue.kvlist_value", w, 2);
      v = keyValues(new Reader(r.bytes()), 1);
    } else if (f === 7) (expectWire("AnyValue.bytes_value", w, 2), (v = r.bytes()));
    else return false;
    return true;
  });
  return v;
}

/** repeated common.v1.KeyValue (key 1, value 2) at `field` of the message `r` reads */
function keyValue(r: Reader): [string, AnyValue] {
  let key = "";
  let value: AnyValue = null;
  r.fields((f, w) => {
    if (f === 1) (expectWire("KeyValue.key", w, 2), (key = r.string()));
    else if (f === 2) (expectWire("KeyValue.value", w, 2), (value = anyValue(new Reader(r.bytes()))));
    else return false;
    return true;
  });
  return [key, value];
}

function keyValues(r: Reader, field: number): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  r.fields((f, w) => {
    if (f !== field) return false;
    expectWire("KeyValue list", w, 2);
    const [k, v] = keyValue(new Reader(r.bytes()));
    out[k] = v;
    return true;
  });
  return out;
}

/** trace.v1.Span (fields 1–16) */
function span(r: Reader, resource: Record<string, AnyValue>, scope: DecodedSpan["scope"]): DecodedSpan {
  const s: DecodedSpan = {
    traceId: "",
    spanId: "",
    parentSpanId: "",
    traceState: "",
    flags: 0,
    name: "",
    kind: 0,
    startNs: "0",
    endNs: "0",
    start: 0,
    end: 0,
    attributes: {},
    events: [],
    links: [],
    status: { code: 0, message: "" },
    resource,
    scope,
  };
  r.fields((f, w) => {
    switch (f) {
      case 1:
        expectWire("Span.trace_id", w, 2);
        s.traceId = hex(r.bytes());
        return true;
      case 2:
        expectWire("Span.span_id", w, 2);
        s.spanId = hex(r.bytes());
        return true;
      case 3:
        expectWire("Span.trace_state", w, 2);
        s.traceState = r.string();
        return true;
      case 4:
        expectWire("Span.parent_span_id", w, 2);
        s.parentSpanId = hex(r.bytes());
        return true;
      case 5:
        expectWire("Span.name", w, 2);
        s.name = r.string();
        return true;
      case 6:
        expectWire("Span.kind", w, 0);
        s.kind = Number(r.varint());
        return true;
      case 7:
        expectWire("Span.start_time_unix_nano", w, 1);
        s.startNs = r.fixed64().toString();
        return true;
      case 8:
        expectWire("Span.end_time_unix_nano", w, 1);
        s.endNs = r.fixed64().toString();
        return true;
      case 9: {
        expectWire("Span.attributes", w, 2);
        const [k, v] = keyValue(new Reader(r.bytes()));
        s.attributes[k] = v;
        return true;
      }
      case 11: {
        expectWire("Span.events", w, 2);
        const e = new Reader(r.bytes());
        const ev = { name: "", timeNs: "0", attributes: {} as Record<string, AnyValue> };
        e.fields((g, gw) => {
          if (g === 1) (expectWire("Event.time_unix_nano", gw, 1), (ev.timeNs = e.fixed64().toString()));
          else if (g === 2) (expectWire("Event.name", gw, 2), (ev.name = e.string()));
          else if (g === 3) {
            expectWire("Event.attributes", gw, 2);
            const [k, v] = keyValue(new Reader(e.bytes()));
            ev.attributes[k] = v;
          } else return false;
          return true;
        });
        s.events.push(ev);
        return true;
      }
      case 13: {
        expectWire("Span.links", w, 2);
        const l = new Reader(r.bytes());
        const link = { traceId: "", spanId: "", attributes: {} as Record<string, AnyValue> };
        l.fields((g, gw) => {
          if (g === 1) (expectWire("Link.trace_id", gw, 2), (link.traceId = hex(l.bytes())));
          else if (g === 2) (expectWire("Link.span_id", gw, 2), (link.spanId = hex(l.bytes())));
          else if (g === 4) {
            expectWire("Link.attributes", gw, 2);
            const [k, v] = keyValue(new Reader(l.bytes()));
            link.attributes[k] = v;
          } else return false;
          return true;
        });
        s.links.push(link);
        return true;
      }
      case 15: {
        expectWire("Span.status", w, 2);
        const st = new Reader(r.bytes());
        st.fields((g, gw) => {
          if (g === 2) (expectWire("Status.message", gw, 2), (s.status.message = st.string()));
          else if (g === 3) (expectWire("Status.code", gw, 0), (s.status.code = Number(st.varint())));
          else return false;
          return true;
        });
        return true;
      }
      case 16:
        expectWire("Span.flags", w, 5);
        s.flags = r.fixed32();
        return true;
      default:
        // 10, 12, 14: dropped counts
        return false;
    }
  });
  s.start = Number(BigInt(s.startNs) / 1000n) / 1000;
  s.end = Number(BigInt(s.endNs) / 1000n) / 1000;
  return s;
}

/** collector.trace.v1.ExportTraceServiceRequest: resource_spans 1 → ResourceSpans (resource 1, scope_spans 2) */
export function decodeProtobuf(body: Uint8Array): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  const top = new Reader(body);
  top.fields((f, w) => {
    if (f !== 1) return false;
    expectWire("ExportTraceServiceRequest.resource_spans", w, 2);
    const rs = new Reader(top.bytes());
    let resource: Record<string, AnyValue> = {};
    const scopeBlobs: Uint8Array[] = [];
    rs.fields((g, gw) => {
      if (g === 1) (expectWire("ResourceSpans.resource", gw, 2), (resource = keyValues(new Reader(rs.bytes()), 1)));
      else if (g === 2) (expectWire("ResourceSpans.scope_spans", gw, 2), scopeBlobs.push(rs.bytes()));
      else return false;
      return true;
    });
    for (const blob of scopeBlobs) {
      const ss = new Reader(blob);
      const scope = { name: "", version: "" };
      const spanBlobs: Uint8Array[] = [];
      ss.fields((g, gw) => {
        if (g === 1) {
          expectWire("ScopeSpans.scope", gw, 2);
          const sc = new Reader(ss.bytes());
          sc.fields((h, hw) => {
            if (h === 1) (expectWire("InstrumentationScope.name", hw, 2), (scope.name = sc.string()));
            else if (h === 2) (expectWire("InstrumentationScope.version", hw, 2), (scope.version = sc.string()));
            else return false;
            return true;
          });
        } else if (g === 2) (expectWire("ScopeSpans.spans", gw, 2), spanBlobs.push(ss.bytes()));
        else return false;
        return true;
      });
      for (const b of spanBlobs) out.push(span(new Reader(b), resource, scope));
    }
    return true;
  });
  return out;
}

// ---- JSON (proto3 JSON mapping; OTLP/JSON carries ids as hex and 64-bit integers as strings or numbers) --------------

const FIELDS: Record<string, readonly string[]> = {
  request: ["resourceSpans"],
  resourceSpans: ["resource", "scopeSpans", "schemaUrl"],
  resource: ["attributes", "droppedAttributesCount", "entityRefs"],
  scopeSpans: ["scope", "spans", "schemaUrl"],
  scope: ["name", "version", "attributes", "droppedAttributesCount"],
  span: [
    "traceId",
    "spanId",
    "traceState",
    "parentSpanId",
    "flags",
    "name",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "attributes",
    "droppedAttributesCount",
    "events",
    "droppedEventsCount",
    "links",
    "droppedLinksCount",
    "status",
  ],
  event: ["timeUnixNano", "name", "attributes", "droppedAttributesCount"],
  link: ["traceId", "spanId", "traceState", "attributes", "droppedAttributesCount", "flags"],
  status: ["message", "code"],
  keyValue: ["key", "value"],
  anyValue: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"],
};

type J = Record<string, unknown>;

function known(kind: string, o: unknown): J {
  if (typeof o !== "object" || o === null) throw new Error(`${kind}: not an object`);
  for (const k of Object.keys(o)) if (!FIELDS[kind]?.includes(k)) throw new Error(`${kind}: unknown field ${k}`);
  return o as J;
}

function jsonAny(o: unknown): AnyValue {
  const v = known("anyValue", o);
  if ("stringValue" in v) return String(v.stringValue);
  if ("boolValue" in v) return Boolean(v.boolValue);
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("arrayValue" in v) return (((v.arrayValue as J).values as unknown[] | undefined) ?? []).map(jsonAny);
  if ("kvlistValue" in v) return jsonAttrs((v.kvlistValue as J).values);
  if ("bytesValue" in v) return Buffer.from(String(v.bytesValue), "base64");
  return null;
}

function jsonAttrs(list: unknown): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const kv of (list as unknown[] | undefined) ?? []) {
    const o = known("keyValue", kv);
    out[String(o.key)] = jsonAny(o.value ?? {});
  }
  return out;
}

const nanos = (v: unknown): string => BigInt(String(v ?? "0")).toString();

export function decodeJson(body: Uint8Array): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  const req = known("request", JSON.parse(new TextDecoder().decode(body)));
  for (const rsRaw of (req.resourceSpans as unknown[] | undefined) ?? []) {
    const rs = known("resourceSpans", rsRaw);
    const resource = jsonAttrs(known("resource", rs.resource ?? {}).attributes);
    for (const ssRaw of (rs.scopeSpans as unknown[] | undefined) ?? []) {
      const ss = known("scopeSpans", ssRaw);
      const sc = known("scope", ss.scope ?? {});
      const scope = { name: String(sc.name ?? ""), version: String(sc.version ?? "") };
      for (const spRaw of (ss.spans as unknown[] | undefined) ?? []) {
        const s = known("span", spRaw);
        const st = known("status", s.status ?? {});
        const startNs = nanos(s.startTimeUnixNano);
        const endNs = nanos(s.endTimeUnixNano);
        out.push({
          traceId: String(s.traceId ?? ""),
          spanId: String(s.spanId ?? ""),
          parentSpanId: String(s.parentSpanId ?? ""),
          traceState: String(s.traceState ?? ""),
          flags: Number(s.flags ?? 0),
          name: String(s.name ?? ""),
          kind: Number(s.kind ?? 0),
          startNs,
          endNs,
          start: Number(BigInt(startNs) / 1000n) / 1000,
          end: Number(BigInt(endNs) / 1000n) / 1000,
          attributes: jsonAttrs(s.attributes),
          events: ((s.events as unknown[] | undefined) ?? []).map((e) => {
            const o = known("event", e);
            return { name: String(o.name ?? ""), timeNs: nanos(o.timeUnixNano), attributes: jsonAttrs(o.attributes) };
          }),
          links: ((s.links as unknown[] | undefined) ?? []).map((l) => {
            const o = known("link", l);
            return {
              traceId: String(o.traceId ?? ""),
              spanId: String(o.spanId ?? ""),
              attributes: jsonAttrs(o.attributes),
            };
          }),
          status: { code: Number(st.code ?? 0), message: String(st.message ?? "") },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

// ---- the server ----------------------------------------------------------------------------------------------------

export interface FakeOtlp {
  url: string;
  spans(): DecodedSpan[];
  requests(): OtlpRequest[];
  mode(m: "ok" | "hang" | "down" | "error"): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeOtlp(): Promise<FakeOtlp> {
  const spans: DecodedSpan[] = [];
  const requests: OtlpRequest[] = [];
  let mode: "ok" | "hang" | "down" | "error" = "ok";
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname === "/__spans") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(spans));
      return;
    }
    if (req.method === "GET" && url.pathname === "/__requests") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(requests));
      return;
    }
    if (req.method === "POST" && url.pathname === "/__mode") {
      mode = (url.searchParams.get("m") ?? "ok") as typeof mode;
      res.end("ok");
      return;
    }
    if (req.method === "POST" && url.pathname === "/__reset") {
      spans.length = 0;
      requests.length = 0;
      res.end("ok");
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      const body = new Uint8Array(Buffer.concat(chunks));
      const contentType = headers["content-type"] ?? "";
      const entry: OtlpRequest = { contentType, headers, bytes: body.length, spans: 0, error: null };
      requests.push(entry);
      if (mode === "down") {
        req.socket.destroy();
        return;
      }
      if (mode === "hang") {
        hanging.add(res);
        return;
      }
      if (mode === "error") {
        res.writeHead(503);
        res.end();
        return;
      }
      if (url.pathname !== "/v1/traces") {
        res.writeHead(404);
        res.end();
        return;
      }
      try {
        const decoded = contentType.startsWith("application/json") ? decodeJson(body) : decodeProtobuf(body);
        entry.spans = decoded.length;
        spans.push(...decoded);
        // an empty ExportTraceServiceResponse: full success
        res.writeHead(200, {
          "Content-Type": contentType.startsWith("application/json") ? "application/json" : "application/x-protobuf",
        });
        res.end(contentType.startsWith("application/json") ? "{}" : undefined);
      } catch (e) {
        entry.error = e instanceof Error ? e.message : String(e);
        res.writeHead(400);
        res.end(entry.error);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
    spans: () => spans.slice(),
    requests: () => requests.slice(),
    mode: (m) => {
      mode = m;
      if (m !== "hang") for (const r of hanging) r.destroy();
    },
    reset: () => {
      spans.length = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const h of hanging) h.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
