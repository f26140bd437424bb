// A fake knowledge service on loopback (services spec §3.3–3.5), serving both contracts the workflow uses:
//   POST /knowledge/v1/chunk/query  — JSON `{code, message, sid, data:{query, count, results}}`, validated like the
//                                     real service (10003 for bad input, 10001 for CBG-RAG without docIds);
//   POST /knowledge/v1/agent/achat  — knowledge-pro: `data: {json}\n\n` frames, then `data: [DONE]\n\n`.
// Scenarios by query text (§3.5): `__empty__`, `__error__`, `__slow__`, `__cut__`; or scripted per query with
// `script(query, ...steps)`: each request with that query takes the next step, the last step repeats.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export const CHUNK_QUERY_PATH = "/knowledge/v1/chunk/query";
export const ACHAT_PATH = "/knowledge/v1/agent/achat";

export type ChunkStep =
  | { kind: "results"; results: Record<string, unknown>[] }
  | { kind: "error"; code: number; message: string; sid?: string }
  | { kind: "http"; status: number; body?: string }
  | { kind: "slow"; ms: number };

export type ProFrame =
  | { answer: string }
  | { metadata: unknown }
  | { error: { code: number; message: string } }
  /** a line written as is (comments, `event:` lines, \r\n framing, garbage) */
  | { raw: string };

export interface ProStep {
  frames?: ProFrame[];
  /** ms between frames (default 20, the §3.5 pacing) */
  delayMs?: number;
  /** stall this long before the first frame */
  stallMs?: number;
  /** stall this long after `stallAfter` frames */
  stallAfter?: number;
  /** false: close the connection without `[DONE]` (a cut stream) */
  done?: boolean;
  /** HTTP status other than 200 (body: a small HTML error page) */
  status?: number;
}

/** The §3.4 sequence: two answer tokens, then the metadata frame with finish_reason stop. */
export const DEFAULT_PRO_FRAMES: ProFrame[] = [
  { answer: "Refunds are possible " },
  { answer: "within 7 days." },
  { metadata: [{ source_id: "doc_3", chunk: [{ chunk_context: "Refunds within 7 days", score: 0.77 }] }] },
];

/** Two canned items with the Ragflow key set (§3.3). */
export const DEFAULT_RESULTS: Record<string, unknown>[] = [
  {
    score: 0.82,
    docId: "doc_9",
    title: "FAQ.pdf",
    content: "Open Settings → Security",
    context: "Open Settings → Security",
    references: {},
  },
  {
    score: 0.41,
    docId: "doc_4",
    title: "Manual.pdf",
    content: "Passwords expire yearly",
    context: "Passwords expire yearly",
    references: {},
  },
];

export interface SeenRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

export interface FakeKnowledge {
  /** base URL, e.g. http://127.0.0.1:1234 */
  base: string;
  /** the chunk/query URL (KNOWLEDGE_URL) */
  url: string;
  /** the knowledge-pro URL (KNOWLEDGE_PRO_URL) */
  proUrl: string;
  requests(path?: string): SeenRequest[];
  /** how many requests carried this query (chunk/query `query` or the knowledge-pro user message) */
  calls(query: string): number;
  script(query: string, ...steps: (ChunkStep | ProStep)[]): void;
  /** responses whose client went away before the fake finished them */
  dropped(): number;
  close(): Promise<void>;
}

const RAG_TYPES = ["AIUI-RAG2", "CBG-RAG", "SparkDesk-RAG", "Ragflow-RAG"];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The pydantic checks of §3.3, as `Request parameter error` / `Parameter check exception` messages. */
function validateChunkQuery(body: Record<string, unknown>): { code: number; message: string } | undefined {
  const errors: string[] = [];
  if (typeof body.query !== "string" || body.query.length < 1)
    errors.push("field: body.query, message: String should have at least 1 character");
  const topN = typeof body.topN === "string" && /^\d+$/.test(body.topN) ? Number(body.topN) : body.topN;
  if (typeof topN !== "number" || !Number.isInteger(topN) || topN < 1 || topN > 5)
    errors.push("field: body.topN, message: Input should be less than or equal to 5");
  if (typeof body.ragType !== "string" || !RAG_TYPES.includes(body.ragType))
    errors.push(
      "field: body.ragType, message: Input should be 'AIUI-RAG2', 'CBG-RAG', 'SparkDesk-RAG' or 'Ragflow-RAG'",
    );
  const match = isObj(body.match) ? body.match : {};
  if (!Array.isArray(match.repoId) || match.repoId.length < 1)
    errors.push("field: body.match.repoId, message: List should have at least 1 item");
  const threshold = match.threshold ?? 0;
  if (typeof threshold !== "number" || threshold < 0 || threshold > 1)
    errors.push("field: body.match.threshold, message: Input should be between 0 and 1");
  if (errors.length > 0) return { code: 10003, message: `Request parameter error: ${JSON.stringify(errors)}` };
  if (body.ragType === "CBG-RAG" && (!Array.isArray(match.docIds) || match.docIds.length === 0)) {
    return { code: 10001, message: "10001: Parameter check exception(docIds is not empty)" };
  }
  return undefined;
}

export async function startFakeKnowledge(): Promise<FakeKnowledge> {
  const seen: SeenRequest[] = [];
  const counts = new Map<string, number>();
  const scripts = new Map<string, (ChunkStep | ProStep)[]>();
  let dropped = 0;

  function nextStep(query: string): ChunkStep | ProStep | undefined {
    const n = counts.get(query) ?? 0;
    counts.set(query, n + 1);
    const list = scripts.get(query);
    if (!list || list.length === 0) return undefined;
    return list[Math.min(n, list.length - 1)];
  }

  function sleep(ms: number, res: ServerResponse): Promise<boolean> {
    // resolves false when the client went away meanwhile
    return new Promise((resolve) => {
      const onClose = (): void => {
        clearTimeout(t);
        if (!res.writableEnded) dropped++;
        resolve(false);
      };
      const t = setTimeout(() => {
        res.off("close", onClose);
        resolve(!res.destroyed && !res.writableEnded);
      }, ms);
      res.once("close", onClose);
    });
  }

  async function chunkQuery(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const query = typeof body.query === "string" ? body.query : "";
    let step = nextStep(query) as ChunkStep | undefined;
    if (!step && query === "__empty__") step = { kind: "results", results: [] };
    if (!step && query === "__error__")
      step = { kind: "error", code: 10027, message: "AIUI knowledge base request failed" };
    if (!step && query === "__slow__") step = { kind: "slow", ms: 5_000 };
    const json = (o: unknown): void => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(o));
    };
    if (step?.kind === "slow") {
      if (!(await sleep(step.ms, res))) return;
      step = undefined;
    }
    if (step?.kind === "http") {
      res.writeHead(step.status, { "Content-Type": "text/html" });
      res.end(step.body ?? "<html><body>Internal Server Error</body></html>");
      return;
    }
    if (step?.kind === "error") {
      json({ code: step.code, message: step.message, sid: step.sid ?? null });
      return;
    }
    const invalid = validateChunkQuery(body);
    if (invalid) {
      json({ ...invalid, sid: null });
      return;
    }
    const results = step?.kind === "results" ? step.results : DEFAULT_RESULTS;
    json({ code: 0, message: "success", sid: null, data: { query, count: results.length, results } });
  }

  async function achat(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const last: unknown = messages.at(-1);
    const query = isObj(last) && typeof last.content === "string" ? last.content : "";
    let step = nextStep(query) as ProStep | undefined;
    if (!step && query.includes("__error__"))
      step = { frames: [{ error: { code: 10027, message: "AIUI knowledge base request failed" } }], done: false };
    if (!step && query.includes("__cut__")) step = { frames: DEFAULT_PRO_FRAMES.slice(0, 1), done: false };
    if (!step && query.includes("__slow__")) step = { frames: DEFAULT_PRO_FRAMES, stallAfter: 1, stallMs: 5_000 };
    const s: ProStep = step ?? {};
    if (s.status !== undefined && s.status !== 200) {
      res.writeHead(s.status, { "Content-Type": "text/html" });
      res.end("<html><body>Bad Gateway</body></html>");
      return;
    }
    const frames = s.frames ?? DEFAULT_PRO_FRAMES;
    if (s.stallAfter === undefined && s.stallMs !== undefined && !(await sleep(s.stallMs, res))) return;
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.flushHeaders();
    for (let i = 0; i < frames.length; i++) {
      if (i > 0 && !(await sleep(s.delayMs ?? 20, res))) return;
      if (s.stallAfter === i && s.stallMs !== undefined && !(await sleep(s.stallMs, res))) return;
      const f = frames[i] as ProFrame;
      const base = { code: 0, message: "success", sid: "kp-1" };
      if ("raw" in f) res.write(f.raw);
      else if ("answer" in f)
        res.write(`data: ${JSON.stringify({ ...base, data: { content_type: "answer", content: f.answer } })}\n\n`);
      else if ("metadata" in f) {
        const final = i === frames.length - 1;
        res.write(
          `data: ${JSON.stringify({ ...base, data: { content_type: "knowledge_metadata", content: f.metadata }, ...(final ? { finish_reason: "stop" } : {}) })}\n\n`,
        );
      } else
        res.write(
          `data: ${JSON.stringify({ code: f.error.code, message: f.error.message, sid: "kp-1", data: {} })}\n\n`,
        );
    }
    if (s.done === false) {
      // a cut stream: the connection drops without [DONE]
      await sleep(10, res);
      res.destroy();
      return;
    }
    res.end("data: [DONE]\n\n");
  }

  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      let body: Record<string, unknown> = {};
      try {
        const parsed: unknown = JSON.parse(raw || "{}");
        if (isObj(parsed)) body = parsed;
      } catch {
        res.writeHead(422, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ detail: "body is not JSON" }));
        return;
      }
      const path = (req.url ?? "").split("?")[0] ?? "";
      seen.push({ path, headers: req.headers, body });
      const handler = path === CHUNK_QUERY_PATH ? chunkQuery : path === ACHAT_PATH ? achat : undefined;
      if (!handler || req.method !== "POST") {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ detail: "Not Found" }));
        return;
      }
      handler(body, res).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  return {
    base,
    url: `${base}${CHUNK_QUERY_PATH}`,
    proUrl: `${base}${ACHAT_PATH}`,
    requests: (path) => (path === undefined ? seen : seen.filter((r) => r.path === path)),
    calls: (query) => counts.get(query) ?? 0,
    dropped: () => dropped,
    script: (query, ...steps) => {
      scripts.set(query, steps);
      counts.set(query, 0);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
