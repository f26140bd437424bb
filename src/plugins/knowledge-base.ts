// The knowledge-base node (spec §5.11, services spec §3.3): one POST to the knowledge service's chunk/query route
// (`KNOWLEDGE_URL`); the response's `data.results` become the node's first declared output.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeContext, type NodeResult } from "../engine/plugin.ts";

const num = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*-?\d+(\.\d+)?\s*$/)
    .transform(Number),
]);

const Params = z
  .object({
    // an empty list is what the editor's template holds until a repository is picked; the service answers 10003
    repoId: z.array(z.string()),
    // spec §4.8 rule 7: the console sends the number as a string; the raw number form is accepted too
    topN: z.union([z.string(), z.number()]).transform(String).default("5"),
    ragType: z.string().default("AIUI-RAG2"),
    docIds: z.array(z.string()).default([]),
    flowId: z.string().default(""),
    score: num.default(0.1),
    enableChatHistoryV2: z
      .object({ isEnabled: z.boolean().default(false), rounds: num.pipe(z.number().int().min(1)).default(1) })
      .loose()
      .default({ isEnabled: false, rounds: 1 }),
  })
  .loose();
type Params = z.infer<typeof Params>;

/** [new] services spec §3.3: 30 s instead of aiohttp's 300 s when no retry timeout bounds the attempt. */
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

interface ChunkQueryResponse {
  code?: unknown;
  message?: unknown;
  sid?: unknown;
  data?: { results?: unknown } | null;
}

function requestError(detail: string): WorkflowError {
  return WorkflowError.of(Codes.KNOWLEDGE_REQUEST_ERROR, detail);
}

/** spec §5.11: the first input is the query, stringified. */
export function firstInputText(ctx: NodeContext): string {
  const first = Object.keys(ctx.inputs)[0];
  const v = first === undefined ? "" : ctx.inputs[first];
  if (typeof v === "string") return v;
  return v === undefined || v === null ? "" : JSON.stringify(v);
}

export function buildChunkQuery(ctx: NodeContext, p: Params): Record<string, unknown> {
  const body: Record<string, unknown> = {
    query: firstInputText(ctx),
    topN: p.topN,
    ragType: p.ragType,
    match: { repoId: p.repoId, docIds: p.docIds, flowId: p.flowId || ctx.run.flowId, threshold: p.score },
  };
  // spec §9.1: knowledge nodes pass the request history untrimmed, and only with chat history v2 on
  if (p.enableChatHistoryV2.isEnabled) {
    body.history = ctx.run.history.map((h) => ({
      role: h.role,
      content: h.content,
      content_type: h.content_type ?? "text",
    }));
  }
  return body;
}

export default definePlugin({
  type: "knowledge-base",
  params: Params,
  retryable: true,
  // a query reads the repository and changes nothing: safe to run again after an eviction
  idempotent: true,
  errorCode: Codes.KNOWLEDGE_NODE_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const url = ctx.config.KNOWLEDGE_URL;
    if (!url) throw WorkflowError.of(Codes.KNOWLEDGE_NODE_EXECUTION_ERROR, "KNOWLEDGE_URL is not configured");
    const body = buildChunkQuery(ctx, p);
    let res: Response;
    let text: string;
    try {
      res = await ctx.fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: ctx.signal,
        // with retries on, the engine's attempt timeout (spec §6.7, 22302) fires first; the margin keeps it so
        timeoutMs: ctx.readTimeoutMs > 0 ? ctx.readTimeoutMs + 1_000 : DEFAULT_TIMEOUT_MS,
        maxBytes: MAX_RESPONSE_BYTES,
      });
      text = await res.text();
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw requestError(clientText(e));
    }
    if (!res.ok) throw requestError(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw WorkflowError.of(
        Codes.KNOWLEDGE_NODE_EXECUTION_ERROR,
        `response is not a JSON object: ${text.slice(0, 100)}`,
      );
    }
    const parsed = json as ChunkQueryResponse;
    const code = typeof parsed.code === "number" ? parsed.code : Number(parsed.code ?? 0);
    if (code !== 0) {
      throw requestError(
        `err code ${String(parsed.code)}, reason ${String(parsed.message ?? "")}, sid ${String(parsed.sid ?? null)}`,
      );
    }
    const results = parsed.data?.results;
    if (!Array.isArray(results))
      throw WorkflowError.of(Codes.KNOWLEDGE_NODE_EXECUTION_ERROR, "response has no data.results");
    // spec §5.11: the first declared output (template: `results`) holds the items; the engine validates its schema
    const name = ctx.outputs[0]?.name ?? "results";
    return { outputs: { [name]: results }, rawOutput: JSON.stringify(results) };
  },
});
