// A fake Link service (services §1.3, §1.4, §1.8): tools registered in memory as OpenAPI documents; L1 returns their
// schemas as JSON text; L2 validates the call, decodes and records the four base64 parts and really executes the
// operation against the document's `servers[0].url` (steps 2–10 of services §1.4, without auth injection), so a
// flow reaches a downstream tool (e.g. the fake AI-tools service) end to end. Faults can be queued per L2 call:
// a Link error code, an HTTP 500 with an HTML body, a delay, or a canned result text.
import { createServer, type Server } from "node:http";

export interface DecodedRun {
  appId: string;
  toolId: string;
  operationId: string;
  version: string;
  /** the payload.message keys that were present */
  sentParts: string[];
  header: Record<string, unknown>;
  query: Record<string, unknown>;
  path: Record<string, unknown>;
  body: Record<string, unknown>;
  /** the URL Link called (absent when the call stopped before) */
  target?: string;
}

export type LinkFault = { code: number; message: string } | { http: number } | { delayMs: number } | { text: string };

export interface FakeLink {
  /** `PLUGIN_GET_URL` / `PLUGIN_RUN_URL` values */
  getUrl: string;
  runUrl: string;
  register(toolId: string, schema: Record<string, unknown>, version?: string): void;
  /** the query strings of every L1 call */
  schemaGets(): URLSearchParams[];
  runs(): DecodedRun[];
  /** queued faults, used one per L2 call in order */
  fault(...faults: LinkFault[]): void;
  /** the W3C traceparent of every request, in order ("" when one had none) */
  traceparents(): string[];
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

/** Python's str() of a query value (services D-L3). */
function pyStr(v: unknown): string {
  if (v === true) return "True";
  if (v === false) return "False";
  if (v === null) return "None";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export async function startFakeLink(opts: { blockedHosts?: string[] } = {}): Promise<FakeLink> {
  const tools = new Map<string, Obj>();
  const gets: URLSearchParams[] = [];
  const runs: DecodedRun[] = [];
  const faults: LinkFault[] = [];
  let sidSeq = 0;

  const envelope = (code: number, message: string, text?: string): Obj => ({
    header: { code, message, sid: `spl-fake-${++sidSeq}` },
    payload: text === undefined ? {} : { text: { text } },
  });

  async function httpRun(raw: string): Promise<{ status: number; body: unknown }> {
    let req: unknown;
    try {
      req = JSON.parse(raw);
    } catch {
      return { status: 422, body: { detail: [{ type: "json_invalid", msg: "JSON decode error" }] } };
    }
    const header = isObj(req) && isObj(req.header) ? req.header : undefined;
    const parameter = isObj(req) && isObj(req.parameter) ? req.parameter : undefined;
    const message = isObj(req) && isObj(req.payload) && isObj(req.payload.message) ? req.payload.message : undefined;
    const problems: string[] = [];
    if (typeof header?.app_id !== "string" || header.app_id.length < 1 || header.app_id.length > 32)
      problems.push("path: $.header.app_id, message: required string 1..32");
    if (typeof parameter?.tool_id !== "string" || !/^tool@[0-9a-zA-Z]+$/.test(parameter.tool_id))
      problems.push("path: $.parameter.tool_id, message: does not match");
    if (typeof parameter?.operation_id !== "string") problems.push("path: $.parameter.operation_id, message: required");
    if (!message) problems.push("path: $.payload.message, message: required");
    for (const k of Object.keys(message ?? {}))
      if (!["header", "query", "path", "body"].includes(k))
        problems.push(`path: $.payload.message.${k}, message: additional property`);
    if (problems.length > 0) return { status: 200, body: envelope(30200, problems.join(";")) };

    const toolId = String(parameter?.tool_id);
    const operationId = String(parameter?.operation_id);
    const version = typeof parameter?.version === "string" && parameter.version ? parameter.version : "V1.0";
    const decoded: DecodedRun = {
      appId: String(header?.app_id),
      toolId,
      operationId,
      version,
      sentParts: Object.keys(message ?? {}),
      header: {},
      query: {},
      path: {},
      body: {},
    };
    for (const k of ["header", "query", "path", "body"] as const) {
      const b64 = message?.[k];
      if (typeof b64 !== "string") continue;
      const text = Buffer.from(b64, "base64").toString("utf8");
      // the node must escape non-ASCII (ensure_ascii): a raw non-ASCII byte here is a client defect
      if (/[^\x00-\x7f]/.test(text))
        return { status: 200, body: envelope(30200, `path: $.payload.message.${k}, message: not ASCII JSON`) };
      const parsed: unknown = JSON.parse(text);
      if (isObj(parsed)) decoded[k] = parsed;
    }
    runs.push(decoded);

    const fault = faults.shift();
    if (fault && "delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault && "http" in fault)
      return { status: fault.http, body: "<html><body><h1>Internal Server Error</h1></body></html>" };
    if (fault && "code" in fault) return { status: 200, body: envelope(fault.code, fault.message) };
    if (fault && "text" in fault) return { status: 200, body: envelope(0, "Success", fault.text) };

    const doc = tools.get(`${toolId}@${version}`);
    if (!doc) return { status: 200, body: envelope(30500, `Tool does not exist: ${toolId} ${version} does not exist`) };
    const servers = Array.isArray(doc.servers) ? doc.servers : [];
    const base = isObj(servers[0]) && typeof servers[0].url === "string" ? servers[0].url : undefined;
    if (!base) return { status: 200, body: envelope(30302, "servers is empty") };
    let found: { url: string; method: string } | undefined;
    for (const [p, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
      for (const m of METHODS) {
        const op = isObj(item) ? item[m] : undefined;
        if (isObj(op) && op.operationId === operationId) found = { url: base + p, method: m.toUpperCase() };
      }
    }
    if (!found) return { status: 200, body: envelope(30600, `operation ${operationId} does not exist`) };
    const official = isObj(doc.info) && doc.info["x-is-official"] === true;

    // step 6: the first path value replaces the last segment (D-L5); query values in Python's str form (D-L3)
    let url = found.url;
    const firstPath = Object.values(decoded.path)[0];
    if (firstPath !== undefined) url = new URL(String(firstPath), url).toString();
    const q = Object.entries(decoded.query).map(([k, v]) => `${k}=${pyStr(v)}`);
    if (q.length > 0) url += `?${q.join("&")}`;
    url = encodeURI(url);
    decoded.target = url;
    // step 7: blacklist
    if ((opts.blockedHosts ?? []).includes(new URL(url).hostname))
      return { status: 200, body: envelope(30203, `host ${new URL(url).hostname} is blacklisted`) };
    // step 8: the outbound call
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(decoded.header)) if (k !== "@type") headers[k] = pyStr(v);
    const hasBody = Object.keys(decoded.body).length > 0;
    if (hasBody) headers["Content-Type"] = "application/json";
    const failCode = official ? 30400 : 30403;
    const failText = official ? "Official API request failed" : "Third-party API request failed";
    let text: string;
    try {
      const res = await fetch(url, {
        method: found.method,
        headers,
        ...(hasBody ? { body: JSON.stringify(decoded.body) } : {}),
      });
      text = await res.text();
      if (res.status !== 200)
        return {
          status: 200,
          body: envelope(failCode, `${failText}: Request error code: ${res.status}, error message ${text}`),
        };
    } catch (e) {
      return { status: 200, body: envelope(failCode, `${failText}: ${e instanceof Error ? e.message : String(e)}`) };
    }
    // step 9/10: the JSON text of the answer (raw text when it is not JSON)
    let result: unknown;
    try {
      result = JSON.parse(text);
    } catch {
      result = text;
    }
    return { status: 200, body: envelope(0, "Success", typeof result === "string" ? result : JSON.stringify(result)) };
  }

  function versions(search: URLSearchParams): { status: number; body: unknown } {
    gets.push(search);
    const ids = search.getAll("tool_ids");
    const vs = search.getAll("versions");
    if (!search.has("app_id") || ids.length === 0)
      return { status: 422, body: { detail: [{ type: "missing", loc: ["query", "app_id"], msg: "Field required" }] } };
    if (ids.length !== vs.length)
      return {
        status: 200,
        body: {
          code: 30201,
          message: `get tool: tool num ${ids.length}, version num ${vs.length} not equal`,
          sid: "fake",
          data: {},
        },
      };
    const out: Obj[] = [];
    for (const [i, id] of ids.entries()) {
      const v = vs[i] ?? "V1.0";
      const doc = tools.get(`${id}@${v}`);
      if (!doc)
        return {
          status: 200,
          body: { code: 30500, message: `Tool does not exist: ${id} ${v} does not exist`, sid: "fake", data: {} },
        };
      const info = isObj(doc.info) ? doc.info : {};
      out.push({
        name: String(info.title ?? id),
        description: String(info.description ?? ""),
        id,
        version: v,
        schema: JSON.stringify(doc),
      });
    }
    return { status: 200, body: { code: 0, message: "Success", sid: "fake", data: { tools: out } } };
  }

  const traces: string[] = [];
  const server: Server = createServer((req, res) => {
    traces.push(String(req.headers.traceparent ?? ""));
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://x");
      const send = ({ status, body }: { status: number; body: unknown }): void => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        res.writeHead(status, { "Content-Type": typeof body === "string" ? "text/html" : "application/json" });
        res.end(text);
      };
      if (req.method === "GET" && u.pathname === "/api/v1/tools/versions") return send(versions(u.searchParams));
      if (req.method === "POST" && u.pathname === "/api/v1/tools/http_run") {
        httpRun(raw).then(send, (e: unknown) => send({ status: 500, body: String(e) }));
        return;
      }
      send({ status: 404, body: { detail: "Not Found" } });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/api/v1/tools`;
  return {
    getUrl: `${base}/versions`,
    runUrl: `${base}/http_run`,
    register: (toolId, schema, version = "V1.0") => void tools.set(`${toolId}@${version}`, schema),
    schemaGets: () => gets,
    runs: () => runs,
    fault: (...f) => void faults.push(...f),
    traceparents: () => traces,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
