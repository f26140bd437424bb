// The sub-workflow node (spec §5.12): runs a published flow through the workflow service's open chat API
// (WORKFLOW_URL_SSE, by default this deployment) and maps its answer: variable mode → the JSON object's fields,
// prompt mode → `content` / `reasoning_content`, streamed into the caller's output nodes. The sub-flow's end mode is
// read from its record (`/protocol/get`, as the agent service does) before the run.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeContext, type NodeEvent, type NodeResult } from "../engine/plugin.ts";
import { decodeStream, SseParser } from "../engine/sse.ts";
import type { Frame, Usage } from "../engine/types.ts";

const Params = z
  .object({
    flowId: z.string().min(1),
    appId: z.string().min(1),
    uid: z.string().default(""),
    version: z.string().default(""),
    enableChatHistoryV2: z
      .object({ isEnabled: z.boolean().default(false), rounds: z.number().int().min(1).default(1) })
      .loose()
      .optional(),
  })
  .loose();
type Params = z.infer<typeof Params>;

/** How deep sub-flows may nest before the run stops (a flow that calls itself would never end). */
export const MAX_DEPTH = 5;

function fail(detail: string): WorkflowError {
  return WorkflowError.of(Codes.WORKFLOW_EXECUTION_ERROR, detail);
}

function base(ctx: NodeContext): string {
  const url = ctx.config.WORKFLOW_URL_SSE;
  if (!url) throw fail("WORKFLOW_URL_SSE is not configured");
  return url.replace(/\/chat\/completions\/?$/, "");
}

/** The sub-flow's end-node output mode, from its record (spec §5.12: decided before the sub-flow runs). */
async function outputMode(ctx: NodeContext, p: Params, headers: Record<string, string>): Promise<number> {
  const res = await ctx.fetch(`${base(ctx)}/protocol/get`, {
    method: "POST",
    headers,
    body: JSON.stringify({ flow_id: p.flowId }),
    signal: ctx.signal,
    timeoutMs: 30_000,
  });
  const body = (await res.json()) as {
    code?: number;
    message?: string;
    data?: { release_data?: unknown; data?: unknown };
  };
  if (body.code !== 0) throw fail(`${body.code ?? "?"}: ${body.message ?? "sub-flow not found"}`);
  const envelope = (body.data?.release_data ?? body.data?.data) as {
    data?: { nodes?: { id?: string; data?: { nodeParam?: { outputMode?: unknown } } }[] };
  } | null;
  const end = envelope?.data?.nodes?.find((n) => n.id?.startsWith("node-end"));
  const mode = end?.data?.nodeParam?.outputMode;
  if (mode !== 0 && mode !== 1) throw fail("Flow output mode not configured");
  return mode;
}

export default definePlugin({
  type: "flow",
  params: Params,
  streams: true,
  retryable: true,
  idempotent: false,
  errorCode: Codes.WORKFLOW_EXECUTION_ERROR,
  async *run(ctx, p: Params): AsyncGenerator<NodeEvent, NodeResult, undefined> {
    // issue 13: the node acts only for the app the host says owns the running flow (prepareRun, node debug)
    if (!ctx.config.SUBFLOW_APP || ctx.config.SUBFLOW_APP !== p.appId)
      throw fail(`the sub-flow node may act only for the flow's own app, not ${p.appId.slice(0, 64)}`);
    const depth = Number(ctx.config.SUBFLOW_DEPTH ?? "0");
    if (depth >= MAX_DEPTH) throw fail(`sub-flows nest deeper than ${MAX_DEPTH} levels (does a flow call itself?)`);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "X-Consumer-Username": p.appId,
      "X-Subflow-Depth": String(depth + 1),
    };
    // spec §5.12: Bearer <api_key>:<api_secret> of the node's app, looked up by the worker before the run
    const credentials = JSON.parse(ctx.config.SUBFLOW_CREDENTIALS ?? "{}") as Record<string, string>;
    if (credentials[p.appId]) headers.Authorization = `Bearer ${credentials[p.appId]}`;
    let mode: number;
    try {
      mode = await outputMode(ctx, p, headers);
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw isWorkflowError(e) && e.code === Codes.WORKFLOW_EXECUTION_ERROR
        ? e
        : fail(e instanceof Error ? e.message : String(e));
    }
    const parameters: Record<string, unknown> = { ...ctx.inputs };
    const history = p.enableChatHistoryV2?.isEnabled ? ctx.run.history : [];
    if (history.length) parameters.chatHistory = history;
    const res = await ctx.fetch(`${base(ctx)}/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        flow_id: p.flowId,
        uid: p.uid || ctx.run.uid,
        parameters,
        ext: {},
        stream: true,
        history,
        ...(p.version ? { version: p.version } : {}),
      }),
      signal: ctx.signal,
      timeoutMs: 30 * 60_000,
      maxBytes: 64 * 1024 * 1024,
    });
    const type = res.headers.get("content-type") ?? "";
    if (!type.includes("event-stream")) {
      // an error before the stream started comes back as one JSON frame (spec §1.5.1)
      const frame = (await res.json()) as Frame;
      throw fail(`${frame.code}: ${frame.message}`);
    }
    const parser = new SseParser();
    let content = "";
    let reasoning = "";
    let usage: Usage | undefined;
    let stopped = false;
    for await (const text of decodeStream(res.body as ReadableStream<Uint8Array>)) {
      for (const ev of parser.push(text)) {
        const frame = JSON.parse(ev.data) as Frame;
        if (frame.code !== 0) throw fail(`${frame.code}: ${frame.message}`);
        const choice = frame.choices?.[0];
        if (!choice) {
          stopped = true;
          break;
        }
        const c = choice.delta.content ?? "";
        const r = choice.delta.reasoning_content ?? "";
        content += c;
        reasoning += r;
        if (mode === 1) {
          if (r) yield { type: "reasoning", content: r };
          if (c) yield { type: "chunk", content: c };
        }
        if (choice.finish_reason === "stop") {
          if (frame.usage) usage = frame.usage;
          stopped = true;
        }
      }
      if (stopped) break;
    }
    if (!stopped) throw fail("the sub-flow stream ended before its final frame");
    let outputs: Record<string, unknown>;
    if (mode === 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(content);
      } catch {
        throw WorkflowError.of(Codes.WORKFLOW_EXEC_RESP_FORMAT_ERROR, content.slice(0, 200));
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw WorkflowError.of(Codes.WORKFLOW_EXEC_RESP_FORMAT_ERROR, content.slice(0, 200));
      outputs = {};
      for (const o of ctx.outputs)
        if (o.name in (parsed as Record<string, unknown>))
          outputs[o.name] = (parsed as Record<string, unknown>)[o.name];
    } else {
      outputs = { content, reasoning_content: reasoning };
    }
    return { outputs, rawOutput: content, ...(usage ? { usage } : {}) };
  },
});
