// The agent node (spec §5.15): calls the Astron agent service and relays its stream — answer tokens to output
// nodes, reasoning and rendered tool calls into REASONING_CONTENT — with its usage and errors (23700).
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeEvent, type NodeResult } from "../engine/plugin.ts";
import { decodeStream, SseParser } from "../engine/sse.ts";
import type { Usage } from "../engine/types.ts";
import { trimHistory } from "./spark-llm.ts";

const Knowledge = z
  .object({
    name: z.string().min(1).max(128),
    description: z.string().max(1024).default(""),
    topK: z.number().int().min(1).max(5).default(3),
    repoType: z.union([z.literal(1), z.literal(2)]).default(1),
    match: z.object({ repoIds: z.array(z.string()).default([]), docIds: z.array(z.string()).default([]) }).loose(),
  })
  .loose();

const Params = z
  .object({
    appId: z.string().default(""),
    apiKey: z.string().default(""),
    apiSecret: z.string().default(""),
    uid: z.string().default(""),
    source: z.string().default("xinghuo"),
    modelConfig: z.object({ domain: z.string(), api: z.string(), agentStrategy: z.number().int().default(1) }).loose(),
    instruction: z
      .object({ reasoning: z.string().default(""), answer: z.string().default(""), query: z.string().default("") })
      .loose(),
    plugin: z
      .object({
        tools: z.array(z.union([z.string(), z.record(z.string(), z.unknown())])).default([]),
        mcpServerIds: z.array(z.string()).default([]),
        mcpServerUrls: z.array(z.string()).default([]),
        workflowIds: z.array(z.string()).default([]),
        knowledge: z.array(Knowledge).default([]),
      })
      .loose(),
    maxLoopCount: z.number().int().min(1),
    maxTokens: z.number().int().default(10240),
    enableChatHistoryV2: z
      .object({ isEnabled: z.boolean().default(false), rounds: z.number().int().min(1).default(1) })
      .loose()
      .default({ isEnabled: false, rounds: 1 }),
    metaData: z
      .object({ caller: z.string().default("workflow-agent-node"), callerSid: z.string().default("") })
      .loose()
      .optional(),
  })
  .loose();
type Params = z.infer<typeof Params>;

interface ToolCall {
  type?: string;
  reason?: string;
  function?: { name?: string; arguments?: unknown; response?: unknown };
}

interface AgentChunk {
  code?: number;
  message?: string;
  choices?: {
    delta?: { content?: string | null; reasoning_content?: string | null; tool_calls?: ToolCall[] | null };
    finish_reason?: string | null;
  }[];
  usage?: { completion_tokens?: number; prompt_tokens?: number; total_tokens?: number };
}

/** spec §5.15: a tool call rendered as markdown reasoning. */
export function renderToolCall(call: ToolCall): string {
  const fn = call.function ?? {};
  const body = JSON.stringify(
    { arguments: fn.arguments ?? "", name: fn.name ?? "", response: fn.response ?? "" },
    null,
    2,
  );
  return `**Reasoning tool ${call.type ?? "tool"}**\n> ${call.reason ?? ""}\n\n\`\`\`json\n${body}\n\`\`\`\n---\n`;
}

function fail(detail: string): WorkflowError {
  return WorkflowError.of(Codes.AGENT_NODE_EXECUTION_ERROR, detail);
}

function withoutLastTwoSegments(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = u.pathname.split("/").slice(0, -2).join("/");
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

export default definePlugin({
  type: "agent",
  params: Params,
  streams: true,
  retryable: true,
  idempotent: false,
  errorCode: Codes.AGENT_NODE_EXECUTION_ERROR,
  async *run(ctx, p: Params): AsyncGenerator<NodeEvent, NodeResult, undefined> {
    const url = ctx.config.AGENT_API_URL;
    if (!url) throw fail("AGENT_API_URL is not configured");
    const history = p.enableChatHistoryV2.isEnabled ? trimHistory(ctx.run.history, p.enableChatHistoryV2.rounds) : [];
    const body = {
      model_config: {
        domain: p.modelConfig.domain,
        api: p.source === "openai" ? withoutLastTwoSegments(p.modelConfig.api) : p.modelConfig.api,
        api_key: p.source === "xinghuo" ? `${p.apiKey}:${p.apiSecret}` : p.apiKey,
      },
      instruction: {
        reasoning: ctx.render(p.instruction.reasoning, "prompt"),
        answer: ctx.render(p.instruction.answer, "prompt"),
      },
      plugin: {
        tools: p.plugin.tools.map((t) => (typeof t === "string" ? { tool_id: t, version: "V1.0" } : t)),
        mcp_server_ids: p.plugin.mcpServerIds,
        mcp_server_urls: p.plugin.mcpServerUrls,
        workflow_ids: p.plugin.workflowIds,
        knowledge: p.plugin.knowledge.map((k) => ({
          name: k.name,
          description: k.description,
          top_k: k.topK,
          repo_type: k.repoType,
          match: { repo_ids: k.match.repoIds, doc_ids: k.match.docIds },
        })),
      },
      uid: ctx.run.uid,
      messages: [...history, { role: "user", content: ctx.render(p.instruction.query, "prompt") }],
      meta_data: {
        caller: p.metaData?.caller ?? "workflow-agent-node",
        caller_sid: p.metaData?.callerSid || ctx.run.sid,
      },
      stream: true,
      max_loop_count: p.maxLoopCount,
    };
    let res: Response;
    try {
      res = await ctx.fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "x-consumer-username": p.appId },
        body: JSON.stringify(body),
        signal: ctx.signal,
        timeoutMs: 30 * 60_000,
        maxBytes: 64 * 1024 * 1024,
      });
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw fail(clientText(e));
    }
    if (!res.ok || !res.body) throw fail(`HTTP ${res.status}: ${(await res.text().catch(() => "")).slice(0, 300)}`);
    // the agent labels its SSE stream application/json: parse by lines
    const parser = new SseParser();
    let answer = "";
    let reasoning = "";
    let usage: Usage | undefined;
    let finished = false;
    for await (const text of decodeStream(res.body)) {
      for (const ev of parser.push(text)) {
        if (ev.data === "[DONE]") {
          finished = true;
          continue;
        }
        let chunk: AgentChunk;
        try {
          chunk = JSON.parse(ev.data) as AgentChunk;
        } catch {
          throw fail(`malformed chunk: ${ev.data.slice(0, 100)}`);
        }
        if (chunk.code !== undefined && chunk.code !== 0) throw fail(`${chunk.code}: ${chunk.message ?? ""}`);
        if (chunk.usage)
          usage = {
            completion_tokens: chunk.usage.completion_tokens ?? 0,
            prompt_tokens: chunk.usage.prompt_tokens ?? 0,
            total_tokens: chunk.usage.total_tokens ?? 0,
          };
        const choice = chunk.choices?.[0];
        const delta = choice?.delta;
        if (delta?.content) {
          answer += delta.content;
          yield { type: "chunk", content: delta.content };
        } else if (delta?.reasoning_content) {
          reasoning += delta.reasoning_content;
          yield { type: "reasoning", content: delta.reasoning_content };
        } else if (delta?.tool_calls?.length) {
          const rendered = delta.tool_calls.map(renderToolCall).join("");
          reasoning += rendered;
          yield { type: "reasoning", content: rendered };
        }
        if (choice?.finish_reason === "stop") finished = true;
      }
    }
    if (!finished) throw fail("the agent stream ended before its final chunk");
    const outputs: Record<string, unknown> = {};
    for (const o of ctx.outputs) outputs[o.name] = o.name === "REASONING_CONTENT" ? reasoning : answer;
    return { outputs, rawOutput: answer, ext: answer ? { raw_output: answer } : {}, ...(usage ? { usage } : {}) };
  },
});
