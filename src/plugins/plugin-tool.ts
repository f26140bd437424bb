// The `plugin` node (spec §5.14; services §1.3–§1.8): runs one operation of a tool registered in the Link service.
// The tool's OpenAPI document comes from Link (L1, cached per isolate), the request parts are built from the
// operation and the node inputs, Link executes the call (L2), and the result's fields become the declared outputs.
// AI tools (services §2) are Link tools too and are reached through this node.
import * as z from "zod";
import { CodeText, Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeContext, type NodeResult } from "../engine/plugin.ts";
import { validateSchema } from "../engine/schema.ts";
import type { JsonSchema, OutputSpec } from "../engine/types.ts";
import { jsonType, typeDefault } from "../engine/values.ts";

const Params = z
  .object({
    pluginId: z.string().min(1),
    operationId: z.string().min(1),
    appId: z.string().min(1),
    // an empty version means the default one, as Link reads it (services §1.4)
    version: z
      .string()
      .default("V1.0")
      .transform((v) => v || "V1.0"),
    businessInput: z.array(z.string()).nullable().default([]),
  })
  .loose();
type Params = z.infer<typeof Params>;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---- link error codes (services §1.4 table; the original's CodeConvert.sparkLinkCode) -------------------------------

const LINK_CODES: Readonly<Record<number, number>> = {
  30001: 21801,
  30200: 21802,
  30201: 21803,
  30300: 21804,
  30301: 21805,
  30302: 21806,
  30400: 21807,
  30500: 21808,
  30600: 21809,
  30403: 21812,
};

// codes.ts names only 21800; the texts of 21801–21812 are the original's (err_code.py)
const LINK_TEXT: Readonly<Record<number, string>> = {
  21801: "Tool initialization failed",
  21802: "Tool JSON protocol parsing failed",
  21803: "Tool protocol validation failed",
  21804: "Tool OpenAPI protocol parsing failed",
  21805: "Tool body type not supported",
  21806: "Tool server does not exist",
  21807: "Official tool request failed",
  21808: "Tool does not exist",
  21809: "Tool operation does not exist",
  21810: "Tool request failed, connection error",
  21811: "Third-party tool execution failed",
  21812: "Third-party tool request failed",
};

/** A Link error code as the workflow code it maps to (21801–21812; anything else 21800), with Link's message. */
export function linkError(linkCode: number, message: string): WorkflowError {
  const code = LINK_CODES[linkCode] ?? Codes.SPARK_LINK_ACTION_ERROR;
  const text = LINK_TEXT[code] ?? CodeText[code] ?? "Tool request failed";
  return new WorkflowError(code, `${text}(${linkCode}: ${message})`);
}

function fail(detail: string): WorkflowError {
  return WorkflowError.of(Codes.PLUGIN_NODE_EXECUTION_ERROR, detail);
}

// ---- the tool schema: parse and cache ------------------------------------------------------------------------------

interface Parameter {
  name: string;
  in: string;
  xFrom: unknown;
  default: unknown;
}

/** What the node needs of one OpenAPI operation. */
export interface Operation {
  parameters: Parameter[];
  /** requestBody.content["application/json"].schema, $refs resolved */
  body: Obj | undefined;
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** `$ref: "#/a/b"` against the document root; bounded so a cyclic document cannot loop. */
function deref(doc: Obj, v: unknown, depth = 0): unknown {
  if (depth > 32 || !isObj(v)) return v;
  const ref = v.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    let target: unknown = doc;
    for (const part of ref.slice(2).split("/")) {
      const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
      target = isObj(target) && Object.hasOwn(target, key) ? target[key] : undefined;
    }
    return deref(doc, target, depth + 1);
  }
  if (depth > 0 || !isObj(v.properties)) return v;
  return resolveProps(doc, v, depth);
}

function resolveProps(doc: Obj, schema: Obj, depth: number): Obj {
  if (depth > 32 || !isObj(schema.properties)) return schema;
  const properties: Obj = {};
  for (const [k, p] of Object.entries(schema.properties)) {
    const resolved = deref(doc, p, depth + 1);
    properties[k] = isObj(resolved) ? resolveProps(doc, resolved, depth + 1) : resolved;
  }
  return { ...schema, properties };
}

/** spec §5.14 step 1: every operation of an OpenAPI document, keyed by operationId. */
export function operationsOf(doc: unknown): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  if (!isObj(doc) || !isObj(doc.paths)) return ops;
  for (const item of Object.values(doc.paths)) {
    if (!isObj(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObj(op) || typeof op.operationId !== "string") continue;
      const parameters: Parameter[] = [];
      for (const raw of Array.isArray(op.parameters) ? op.parameters : []) {
        const p = deref(doc, raw);
        if (!isObj(p) || typeof p.name !== "string" || typeof p.in !== "string") continue;
        const schema = isObj(p.schema) ? p.schema : {};
        parameters.push({ name: p.name, in: p.in, xFrom: schema["x-from"] ?? p["x-from"], default: schema.default });
      }
      const rb = deref(doc, op.requestBody);
      const content = isObj(rb) && isObj(rb.content) ? rb.content["application/json"] : undefined;
      const body = isObj(content) ? deref(doc, content.schema) : undefined;
      ops.set(op.operationId, { parameters, body: isObj(body) ? resolveProps(doc, body, 0) : undefined });
    }
  }
  return ops;
}

const SCHEMA_TTL_MS = 5 * 60_000;
const SCHEMA_CACHE_MAX = 256;
const SCHEMA_GET_TIMEOUT_MS = 10_000; // services §1.6 [new]
const RUN_TIMEOUT_MS = 60_000;

/**
 * A map with a time-to-live and a size bound: least recently used entries leave first. Time is the caller's
 * (the run clock), so tests move it by hand.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { at: number; value: V }>();

  readonly maxEntries: number;
  readonly ttlMs: number;

  constructor(maxEntries: number, ttlMs: number) {
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
  }

  get(key: string, now: number): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    this.#entries.delete(key);
    if (now - hit.at >= this.ttlMs) return undefined;
    this.#entries.set(key, hit); // most recently used goes last
    return hit.value;
  }

  set(key: string, value: V, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { at: now, value });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Isolate-level cache of tool operations, keyed by Link URL, app, tool and version. A (tool, version) row is
 * never updated in place by Link (a new version is a new row, services §1.1), so the TTL only bounds how long a
 * deleted tool keeps working here.
 */
const schemaCache = new TtlCache<Map<string, Operation>>(SCHEMA_CACHE_MAX, SCHEMA_TTL_MS);

/** Empties the tool-schema cache (tests). */
export function clearToolSchemaCache(): void {
  schemaCache.clear();
}

function cacheKey(getUrl: string, p: Params): string {
  return [getUrl, p.appId, p.pluginId, p.version].join("\n");
}

async function toolOperations(
  ctx: NodeContext,
  getUrl: string,
  p: Params,
): Promise<{ ops: Map<string, Operation>; why: string }> {
  const key = cacheKey(getUrl, p);
  const now = ctx.clock.now();
  const hit = schemaCache.get(key, now);
  if (hit) return { ops: hit, why: "" };
  const url = new URL(getUrl);
  url.searchParams.append("tool_ids", p.pluginId);
  url.searchParams.append("versions", p.version);
  url.searchParams.append("app_id", p.appId);
  let body: unknown;
  try {
    const res = await ctx.fetch(url, {
      method: "GET",
      headers: { "Content-Type": "application/json" },
      signal: ctx.signal,
      timeoutMs: SCHEMA_GET_TIMEOUT_MS,
      maxBytes: 4 * 1024 * 1024,
    });
    body = await res.json();
  } catch (e) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // spec §5.14 / services §1.6: a failed schema read means "no tools"; say why in the error and the log
    ctx.log(`tool schema read failed: ${e instanceof Error ? e.message : String(e)}`);
    const why = clientText(e);
    return { ops: new Map(), why };
  }
  if (!isObj(body) || body.code !== 0) {
    const why = isObj(body)
      ? `link ${String(body.code)}: ${String(body.message ?? "")}`
      : "link answered no JSON object";
    return { ops: new Map(), why };
  }
  const tools = isObj(body.data) && Array.isArray(body.data.tools) ? body.data.tools : [];
  const ops = new Map<string, Operation>();
  for (const t of tools) {
    if (!isObj(t) || typeof t.schema !== "string") continue;
    let doc: unknown;
    try {
      doc = JSON.parse(t.schema);
    } catch {
      continue;
    }
    for (const [id, op] of operationsOf(doc)) ops.set(id, op);
  }
  schemaCache.set(key, ops, now);
  return { ops, why: "" };
}

// ---- request parts -------------------------------------------------------------------------------------------------

/** spec §5.14 step 2: the first value of each business key, searching the inputs breadth-first. */
export function findBusinessInputs(inputs: Obj, keys: readonly string[]): Obj {
  const wanted = new Set(keys);
  const found: Obj = {};
  const queue: unknown[] = [inputs];
  for (let i = 0; i < queue.length && wanted.size > 0; i++) {
    const v = queue[i];
    if (Array.isArray(v)) {
      queue.push(...v);
    } else if (isObj(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (wanted.has(k)) {
          found[k] = child;
          wanted.delete(k);
        }
      }
      queue.push(...Object.values(v));
    }
  }
  return found;
}

/** x-from 1 = business pass-through; 0, 2 and absent = node input (spec §5.14, services §1.1). */
function pick(name: string, xFrom: unknown, inputs: Obj, business: Obj): unknown {
  const source = xFrom === 1 ? business : inputs;
  return Object.hasOwn(source, name) ? source[name] : undefined;
}

function bodyOf(schema: Obj, inputs: Obj, business: Obj): Obj {
  const out: Obj = {};
  const props = isObj(schema.properties) ? schema.properties : {};
  for (const [name, raw] of Object.entries(props)) {
    const prop = isObj(raw) ? raw : {};
    let value: unknown;
    if (prop.type === "object" && isObj(prop.properties)) {
      // nested inputs are looked up inside the input of the same name
      const inner = pick(name, prop["x-from"], inputs, business);
      const nested = bodyOf(prop, isObj(inner) ? inner : {}, business);
      value = Object.keys(nested).length > 0 ? nested : undefined;
    } else {
      value = pick(name, prop["x-from"], inputs, business);
    }
    if (value === undefined) value = prop.default;
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export interface RequestParts {
  header: Obj;
  query: Obj;
  path: Obj;
  body: Obj;
}

/** spec §5.14 step 2 / services §1.5: the four parts of the Link call for one operation. */
export function buildParts(op: Operation, inputs: Obj, businessKeys: readonly string[]): RequestParts {
  const business = findBusinessInputs(inputs, businessKeys);
  const parts: RequestParts = { header: {}, query: {}, path: {}, body: {} };
  for (const p of op.parameters) {
    if (p.in !== "header" && p.in !== "query" && p.in !== "path") continue;
    const value = pick(p.name, p.xFrom, inputs, business) ?? p.default;
    // services D-L3 [new]: a null parameter is dropped (Link would send "None" or fail on a null header)
    if (value !== undefined && value !== null) parts[p.in][p.name] = value;
  }
  if (op.body) parts.body = bodyOf(op.body, inputs, business);
  return parts;
}

/** base64 of JSON text with every non-ASCII character escaped as \uXXXX (Python's ensure_ascii). */
export function encodePart(part: Obj): string {
  const ascii = JSON.stringify(part).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return btoa(ascii);
}

// ---- outputs -------------------------------------------------------------------------------------------------------

function typeMatches(declared: string | undefined, v: unknown): boolean {
  const t = jsonType(v);
  if (declared === undefined) return true;
  if (declared === "number") return t === "number" || t === "integer";
  return t === declared;
}

/** spec §5.14 step 5: each declared output is the result's field of that name when it fits, else its type default. */
export function mapOutputs(result: Obj, outputs: readonly OutputSpec[]): Obj {
  const out: Obj = {};
  for (const o of outputs) {
    const schema: JsonSchema = o.schema;
    const v = Object.hasOwn(result, o.name) ? result[o.name] : undefined;
    const fits = v !== undefined && v !== null && typeMatches(schema.type, v) && validateSchema(v, schema).length === 0;
    out[o.name] = fits ? v : typeDefault(schema.type);
  }
  return out;
}

// ---- the node ------------------------------------------------------------------------------------------------------

export default definePlugin({
  type: "plugin",
  params: Params,
  retryable: true,
  // a tool call may change the world (a POST to a third party): never repeated behind the user's back
  idempotent: false,
  errorCode: Codes.PLUGIN_NODE_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const getUrl = ctx.config.PLUGIN_GET_URL;
    const runUrl = ctx.config.PLUGIN_RUN_URL;
    if (!getUrl || !runUrl) throw fail("PLUGIN_GET_URL and PLUGIN_RUN_URL must be configured");

    const { ops, why } = await toolOperations(ctx, getUrl, p);
    const op = ops.get(p.operationId);
    if (!op) {
      // spec §5.14 step 1: no matching operation → 22302
      const detail = `tool ${p.pluginId} ${p.version} has no operation ${p.operationId}${why ? ` (${why})` : ""}`;
      throw WorkflowError.of(Codes.NODE_RUN_ERROR, detail);
    }

    const parts = buildParts(op, ctx.inputs, p.businessInput ?? []);
    const message: Record<string, string> = {};
    for (const k of ["header", "query", "path", "body"] as const) {
      if (Object.keys(parts[k]).length > 0) message[k] = encodePart(parts[k]);
    }
    const request = {
      header: { app_id: p.appId },
      parameter: { tool_id: p.pluginId, operation_id: p.operationId, version: p.version },
      payload: { message },
    };

    let text: string;
    try {
      // the engine bounds the attempt by retryConfig.timeout; the fetch bound is a second later so that the
      // engine's "Node execution timeout" is what a slow tool reports (services §1.6)
      const res = await ctx.fetch(runUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
        signal: ctx.signal,
        timeoutMs: ctx.readTimeoutMs > 0 ? ctx.readTimeoutMs + 1000 : RUN_TIMEOUT_MS,
        maxBytes: 16 * 1024 * 1024,
      });
      const raw = await res.text();
      if (!res.ok) throw fail(`link answered HTTP ${res.status}: ${raw.slice(0, 200)}`);
      let answer: unknown;
      try {
        answer = JSON.parse(raw);
      } catch {
        throw fail(`link answered no JSON: ${raw.slice(0, 200)}`);
      }
      const header = isObj(answer) && isObj(answer.header) ? answer.header : undefined;
      if (!header || typeof header.code !== "number") throw fail("link answer has no header.code");
      if (header.code !== 0) {
        // the cached schema may be the stale one when Link says the tool or operation is gone
        if (header.code === 30500 || header.code === 30600) schemaCache.delete(cacheKey(getUrl, p));
        throw linkError(header.code, String(header.message ?? ""));
      }
      const payload = isObj(answer) && isObj(answer.payload) ? answer.payload : {};
      const t = isObj(payload.text) ? payload.text.text : undefined;
      if (typeof t !== "string") throw fail("link answer has no payload.text.text");
      text = t;
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // [new] (services §1.5): a coded link error keeps its 218xx code; every other failure is 23400
      if (isWorkflowError(e) && (e.code === Codes.PLUGIN_NODE_EXECUTION_ERROR || (e.code >= 21800 && e.code <= 21812)))
        throw e;
      throw fail(clientText(e));
    }

    let result: unknown;
    try {
      result = JSON.parse(text);
    } catch {
      result = text;
    }
    if (!isObj(result)) {
      if (ctx.outputs.length > 0) throw fail(`the tool answered ${jsonType(result)}, not an object`);
      return { outputs: {}, rawOutput: text };
    }
    return { outputs: mapOutputs(result, ctx.outputs), rawOutput: text };
  },
});
