// The knowledge-pro node (spec §5.13, services spec §3.4): one POST to `KNOWLEDGE_PRO_URL`, whose `data:` stream
// carries answer tokens (relayed to output nodes, joined into `output`) and knowledge metadata (`result`).
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type Clock, type NodeContext, type NodeEvent, type NodeResult } from "../engine/plugin.ts";
import { firstInputText } from "./knowledge-base.ts";

const num = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*-?\d+(\.\d+)?\s*$/)
    .transform(Number),
]);
const int = (min: number, max?: number) =>
  num.pipe(max === undefined ? z.number().int().min(min) : z.number().int().min(min).max(max));
const oneOrTwo = num.pipe(z.union([z.literal(1), z.literal(2)]));

const Params = z
  .object({
    model: z.string().min(1),
    url: z.string().min(1),
    domain: z.string().min(1),
    appId: z.string().min(1),
    apiKey: z.string().min(1),
    // the console injects apiSecret "" for OpenAI-style models (spec §4.8 rule 6); refusing it would make those unbuildable
    apiSecret: z.string(),
    temperature: num.pipe(z.number().gt(0).lte(1)),
    maxTokens: int(1),
    topK: int(1, 6),
    ragType: oneOrTwo,
    repoType: oneOrTwo,
    repoIds: z.array(z.string()).min(1),
    docIds: z.array(z.string()).default([]),
    repoTopK: int(1, 5),
    answerRole: z.string().default(""),
    score: num.default(0.1),
    uid: z.string().default(""),
  })
  .loose();
type Params = z.infer<typeof Params>;

const REPO_TYPE = { 1: "AIUI-RAG2", 2: "CBG-RAG" } as const;
const RAG_MODE = { 1: "DeepSearch", 2: "LongRAG" } as const;

/** services spec §3.4 / workflow spec §6.11: connect 30 s, total 30 min (the per-read timeout applies on top). */
const TOTAL_TIMEOUT_MS = 30 * 60_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

interface ProFrame {
  code?: unknown;
  message?: unknown;
  sid?: unknown;
  data?: { content_type?: unknown; content?: unknown } | null;
}

export function buildAchatBody(ctx: NodeContext, p: Params): Record<string, unknown> {
  return {
    prompt: p.answerRole,
    rag: {
      type: REPO_TYPE[p.repoType],
      repo_id: p.repoIds,
      doc_id: p.docIds,
      topN: p.repoTopK,
      mode: RAG_MODE[p.ragType],
      threshold: p.score,
      llm: {
        app_id: p.appId,
        api_key: p.apiKey,
        api_secret: p.apiSecret,
        base_url: p.url,
        model: p.domain,
        max_token: p.maxTokens,
        top_k: p.topK,
        temperature: p.temperature,
      },
    },
    messages: [{ role: "user", content: firstInputText(ctx) }],
    meta_data: { caller: "workflow", caller_sid: ctx.run.sid },
  };
}

/** What one line of the stream says, by the tolerant framing of services spec §0. */
type Line = { kind: "skip" } | { kind: "done" } | { kind: "frame"; frame: ProFrame };

export function parseProLine(raw: string): Line {
  const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  if (line.trim() === "" || line.startsWith(":") || /^(event|id|retry):/.test(line)) return { kind: "skip" };
  let payload = line.startsWith("data:") ? line.slice(5) : line;
  if (payload.startsWith(" ")) payload = payload.slice(1);
  if (payload.trim() === "[DONE]") return { kind: "done" };
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    value = undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw WorkflowError.of(Codes.KNOWLEDGE_NODE_EXECUTION_ERROR, `malformed frame: ${payload.slice(0, 100)}`);
  }
  return { kind: "frame", frame: value as ProFrame };
}

function responseTimeout(ms: number): WorkflowError {
  return WorkflowError.of(Codes.KNOWLEDGE_NODE_EXECUTION_ERROR, `response timeout: no data for ${ms} ms`);
}

/** Resolves with `work`, or rejects with `onTimeout()` after `ms` (0 = no limit). */
async function within<T>(work: Promise<T>, ms: number, clock: Clock, onTimeout: () => WorkflowError): Promise<T> {
  if (ms <= 0) return work;
  const tc = new AbortController();
  const timer = clock.sleep(ms, tc.signal).then(() => {
    throw onTimeout();
  });
  try {
    return await Promise.race([work, timer]);
  } finally {
    tc.abort();
    timer.catch(() => undefined);
  }
}

/** Lines of a byte stream; each read waits at most `readTimeoutMs` (spec §6.11: the provider per-read timeout). */
async function* readLines(
  body: ReadableStream<Uint8Array>,
  readTimeoutMs: number,
  clock: Clock,
): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const next = await within(reader.read(), readTimeoutMs, clock, () => responseTimeout(readTimeoutMs));
      if (next.done) break;
      buffer += decoder.decode(next.value, { stream: true });
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        yield buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf("\n");
      }
    }
    buffer += decoder.decode();
    if (buffer !== "") yield buffer;
  } finally {
    // [DONE], an error or a timeout: drop the connection rather than drain it
    reader.cancel().catch(() => undefined);
  }
}

/** The node's credentials never appear in an error message, even when the service echoes them back. */
function redact(text: string, p: Params): string {
  let out = text;
  for (const secret of [p.apiKey, p.apiSecret]) if (secret.length >= 4) out = out.split(secret).join("***");
  return out;
}

export default definePlugin({
  type: "knowledge-pro-base",
  params: Params,
  // spec §5 table: a stream source (its `output` only; refs to `result…` wait for the value)
  streams: true,
  // spec §5.13: refs to `result…` wait for the metadata instead of relaying the answer stream
  quietOutputs: ["result"],
  retryable: true,
  // retrieval and a model answer change nothing; a re-run after an eviction happens only while none of its streamed
  // tokens can have reached a client (the run object checks)
  idempotent: true,
  errorCode: Codes.KNOWLEDGE_NODE_EXECUTION_ERROR,
  async *run(ctx, p: Params): AsyncGenerator<NodeEvent, NodeResult, undefined> {
    const url = ctx.config.KNOWLEDGE_PRO_URL;
    if (!url) throw WorkflowError.of(Codes.KNOWLEDGE_NODE_EXECUTION_ERROR, "KNOWLEDGE_PRO_URL is not configured");
    // spec §5.13: CBG-RAG needs documents; checked before any call
    if (p.repoType === 2 && p.docIds.length === 0)
      throw WorkflowError.of(Codes.KNOWLEDGE_PARAM_ERROR, "docIds must not be empty for CBG-RAG (repoType 2)");
    const requestFailed = (detail: string): WorkflowError =>
      WorkflowError.of(Codes.KNOWLEDGE_REQUEST_ERROR, redact(detail, p));

    // the per-read timeout also bounds the wait for the response headers (a slow first byte)
    const headers = new AbortController();
    let res: Response;
    try {
      const pending = ctx.fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(buildAchatBody(ctx, p)),
        signal: AbortSignal.any([ctx.signal, headers.signal]),
        timeoutMs: TOTAL_TIMEOUT_MS,
        maxBytes: MAX_RESPONSE_BYTES,
      });
      pending.catch(() => undefined);
      res = await within(pending, ctx.readTimeoutMs, ctx.clock, () => {
        headers.abort();
        return responseTimeout(ctx.readTimeoutMs);
      });
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (isWorkflowError(e) && e.code === Codes.KNOWLEDGE_NODE_EXECUTION_ERROR) throw e;
      throw requestFailed(clientText(e));
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => "");
      throw requestFailed(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    }

    let answer = "";
    let metadata: unknown;
    let metadataSeen = false;
    try {
      for await (const raw of readLines(res.body, ctx.readTimeoutMs, ctx.clock)) {
        const line = parseProLine(raw);
        if (line.kind === "skip") continue;
        if (line.kind === "done") break;
        const { frame } = line;
        const code = typeof frame.code === "number" ? frame.code : Number(frame.code ?? 0);
        if (code !== 0) {
          throw requestFailed(
            `err code ${String(frame.code)}, reason ${String(frame.message ?? "")}, sid ${String(frame.sid ?? null)}`,
          );
        }
        const data = frame.data ?? {};
        const type = typeof data.content_type === "string" ? data.content_type : "answer";
        if (type === "answer" && typeof data.content === "string" && data.content !== "") {
          answer += data.content;
          yield { type: "chunk", content: data.content };
        } else if (type === "knowledge_metadata") {
          // [new] spec §5.13: the last metadata seen, wherever it sits in the stream
          metadata = data.content;
          metadataSeen = true;
        }
      }
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (isWorkflowError(e)) {
        // the guarded fetch's size cap or a transport failure mid-stream carry its generic code: a request error here
        if (e.code === Codes.KNOWLEDGE_NODE_EXECUTION_ERROR || e.code === Codes.KNOWLEDGE_REQUEST_ERROR) throw e;
        throw requestFailed(e.message);
      }
      // services spec §3.5: a connection cut mid-stream ends the node with what it has (the original loop just ends)
      ctx.log(`stream ended early: ${e instanceof Error ? e.message : String(e)}`);
    }

    // spec §5.13: outputs are fixed — `output` (the answer) and `result` (the metadata, when any came)
    const outputs: Record<string, unknown> = {};
    const declared = ctx.outputs.length > 0 ? ctx.outputs.map((o) => o.name) : ["output", "result"];
    if (declared.includes("output")) outputs.output = answer;
    if (declared.includes("result") && metadataSeen) outputs.result = metadata;
    return { outputs, rawOutput: answer };
  },
});
