// The large-model node (spec §5.3). Providers live in ./providers; this module renders the prompts, builds the
// messages, streams the answer to output nodes and maps the text to the declared outputs.
import { RE2JS } from "re2js";
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { configCap } from "../engine/limits.ts";
import { definePlugin, type HistoryItem, type NodeContext, type NodeEvent, type NodeResult } from "../engine/plugin.ts";
import type { OutputSpec, Usage } from "../engine/types.ts";
import { tracedModelCall } from "./genai-trace.ts";
import { streamChat, type ChatMessage, type Delta } from "./providers/openai.ts";
import { streamSpark } from "./providers/spark.ts";

const num = z.union([
  z.number(),
  z
    .string()
    .regex(/^-?\d+(\.\d+)?$/)
    .transform(Number),
]);

/** The BaseLLMNode keys of spec §5.1 (shared by the LLM-family nodes). */
export const BaseLlmParams = z.object({
  model: z.string().default(""),
  domain: z.string().min(1),
  appId: z.string().default(""),
  apiKey: z.string().default(""),
  apiSecret: z.string().default(""),
  url: z.string().default(""),
  source: z.string().default("xinghuo"),
  temperature: num.pipe(z.number().gt(0).lte(1)).default(1),
  maxTokens: num.pipe(z.number().int().gt(0)).default(2048),
  topK: num.pipe(z.number().int()).default(3),
  uid: z.string().default(""),
  template: z.string().default(""),
  systemTemplate: z.string().default(""),
  respFormat: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(0),
  enableChatHistoryV2: z
    .object({ isEnabled: z.boolean().default(false), rounds: num.pipe(z.number().int().min(1)).default(1) })
    .loose()
    .default({ isEnabled: false, rounds: 1 }),
  re_match_pattern: z.string().default("```(json)?(.*)```"),
  extraParams: z.record(z.string(), z.unknown()).default({}),
  patch_id: z.array(z.union([z.string(), z.number()]).transform(String)).default([]),
  searchDisable: z.boolean().default(true),
});
export type BaseLlmParams = z.infer<typeof BaseLlmParams>;

/** spec §9.1: a size estimate of messages — 1.5 × the length of their printed form. */
export function estimate(items: readonly { role: string; content: string }[]): number {
  return 1.5 * JSON.stringify(items).length;
}

/**
 * spec §9.1 v2: the last `rounds` user/assistant pairs of the request history (image items are not text history),
 * then the oldest items dropped while the estimate exceeds 95 % of `budget` (the node's maxTokens minus the
 * estimate of the other messages).
 */
export function trimHistory(
  history: readonly HistoryItem[],
  rounds: number,
  budget = Number.POSITIVE_INFINITY,
): ChatMessage[] {
  const text = history.filter((h) => (h.content_type ?? "text") !== "image");
  const kept = text.slice(Math.max(0, text.length - rounds * 2)).map((h) => ({ role: h.role, content: h.content }));
  while (kept.length > 0 && estimate(kept) > 0.95 * budget) kept.shift();
  return kept;
}

export function buildMessages(ctx: NodeContext, p: BaseLlmParams, image?: ChatMessage): ChatMessage[] {
  const messages: ChatMessage[] = image ? [image] : [];
  const system = p.systemTemplate ? ctx.render(p.systemTemplate, "prompt") : "";
  const user: ChatMessage = { role: "user", content: ctx.render(p.template, "prompt") };
  if (system) messages.push({ role: "system", content: system });
  if (p.enableChatHistoryV2.isEnabled) {
    const others = system ? [{ role: "system", content: system }, user] : [user];
    messages.push(...trimHistory(ctx.run.history, p.enableChatHistoryV2.rounds, p.maxTokens - estimate(others)));
  }
  messages.push(user);
  return messages;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * spec §5.3 step 2: for Spark image domains (SPARK_IMAGE_MODEL_DOMAIN, default `image,imagev3`) the SYSTEM_IMAGE
 * input is downloaded and sent first as a base64 image message; without it, the last image of the request history.
 * Other models get no image message (an image in the history is dropped).
 */
export async function imageMessage(ctx: NodeContext, p: BaseLlmParams): Promise<ChatMessage | undefined> {
  if (p.source === "openai") return undefined;
  const domains = (ctx.config.SPARK_IMAGE_MODEL_DOMAIN ?? "image,imagev3").split(",").map((d) => d.trim());
  if (!domains.includes(p.domain)) return undefined;
  const url = ctx.inputs.SYSTEM_IMAGE;
  if (typeof url === "string" && url) {
    const res = await ctx.fetch(url, { signal: ctx.signal, timeoutMs: 30_000, maxBytes: 20 * 1024 * 1024 });
    if (!res.ok) throw WorkflowError.of(Codes.FILE_INVALID_TYPE_ERROR, `SYSTEM_IMAGE ${res.status}`);
    return { role: "user", content: base64(new Uint8Array(await res.arrayBuffer())), content_type: "image" };
  }
  const last = [...ctx.run.history].reverse().find((h) => h.content_type === "image");
  return last ? { role: "user", content: last.content, content_type: "image" } : undefined;
}

function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

/** spec §5.3 step 5: the answer (and reasoning) → declared outputs by response format. */
/** Longest `re_match_pattern` applied when LLM_PATTERN_MAX_CHARS is not set. */
export const DEFAULT_PATTERN_MAX_CHARS = 1000;

/**
 * spec §5.3 step 5: the author's pattern, DOTALL, searched in the answer. It runs on RE2 (re2js), whose time is linear
 * in the text: a backtracking engine (JavaScript's RegExp, Python's re) spends exponential time on a pattern such as
 * `((t\d+ )+)+X`, on the worker's one thread (issue 13). RE2 reads Python's syntax, `(?P<name>…)` included; a
 * pattern RE2 cannot run (backreferences, lookaround), a bad one, or one longer than `maxChars` is not applied, and
 * the whole text is used, as the original does for a pattern that does not match.
 */
export function matchPattern(
  pattern: string,
  text: string,
  maxChars = DEFAULT_PATTERN_MAX_CHARS,
): (string | undefined)[] | null {
  if (pattern.length > maxChars) return null;
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, RE2JS.DOTALL);
  } catch {
    return null;
  }
  return re.exec(text) as (string | undefined)[] | null;
}

export function mapOutputs(
  answer: string,
  reasoning: string,
  outputs: readonly OutputSpec[],
  p: Pick<BaseLlmParams, "respFormat" | "re_match_pattern">,
  patternMaxChars = DEFAULT_PATTERN_MAX_CHARS,
): Record<string, unknown> {
  const plain = (): Record<string, unknown> => {
    if (reasoning) {
      const out: Record<string, unknown> = {};
      for (const o of outputs) out[o.name] = o.name === "REASONING_CONTENT" ? reasoning : answer;
      return out;
    }
    const first = outputs[0];
    return first ? { [first.name]: answer } : {};
  };
  let mapped: Record<string, unknown>;
  if (p.respFormat === 2) {
    const m = matchPattern(p.re_match_pattern, answer, patternMaxChars);
    const text = m && typeof m[2] === "string" ? m[2] : answer;
    try {
      const parsed: unknown = JSON.parse(text.trim());
      mapped =
        parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
          ? (parsed as Record<string, unknown>)
          : plain();
    } catch {
      mapped = {};
    }
  } else if (p.respFormat === 1) {
    const first = outputs[0];
    mapped = first ? { [first.name]: answer } : {};
  } else {
    mapped = plain();
  }
  // [orig] a falsy mapped value keeps the variable's default (spec §5.3 step 5, kept for compatibility)
  const out: Record<string, unknown> = {};
  for (const o of outputs) if (truthy(mapped[o.name])) out[o.name] = mapped[o.name];
  return out;
}

const SPARK_PATHS: Record<string, string> = {
  general: "v1.1/chat",
  generalv2: "v2.1/chat",
  generalv3: "v3.1/chat",
  "generalv3.5": "v3.1/chat",
};

/** The provider stream for these params: OpenAI-compatible HTTP (`source: "openai"`) or Spark over WebSocket. */
export function streamLlm(
  ctx: NodeContext,
  p: BaseLlmParams,
  messages: ChatMessage[],
): AsyncGenerator<Delta, { usage?: Usage }, undefined> {
  if (p.source === "openai") {
    if (!p.url) throw WorkflowError.of(Codes.OPEN_AI_REQUEST_ERROR, "Request URL is empty");
    const url = p.url;
    const call = {
      provider: "openai",
      model: p.domain,
      url,
      temperature: p.temperature,
      maxTokens: p.maxTokens,
      messages,
    };
    return tracedModelCall(
      ctx,
      call,
      (fetch) =>
        streamChat(fetch, {
          url,
          apiKey: p.apiKey,
          model: p.domain,
          messages,
          temperature: p.temperature,
          maxTokens: p.maxTokens,
          extraParams: p.extraParams,
          readTimeoutMs: ctx.readTimeoutMs,
          signal: ctx.signal,
        }),
      Codes.OPEN_AI_REQUEST_ERROR,
    );
  }
  // spec §5.3.1: the node's url, else SPARK_HOST + the path of the domain
  let url = p.url;
  if (!url) {
    const path = SPARK_PATHS[p.domain];
    if (!path) throw WorkflowError.of(Codes.SPARK_REQUEST_ERROR, "Request URL is empty");
    url = `${(ctx.config.SPARK_HOST ?? "ws://spark-api.xf-yun.com").replace(/\/$/, "")}/${path}`;
  }
  const sparkUrl = url;
  const call = {
    provider: "iflytek.spark",
    model: p.domain,
    url,
    temperature: p.temperature,
    maxTokens: p.maxTokens,
    topK: p.topK,
    messages,
  };
  return tracedModelCall(
    ctx,
    call,
    () =>
      streamSpark({
        url: sparkUrl,
        appId: p.appId,
        apiKey: p.apiKey,
        apiSecret: p.apiSecret,
        uid: p.uid || ctx.run.uid,
        domain: p.domain,
        temperature: p.temperature,
        maxTokens: p.maxTokens,
        topK: p.topK,
        patchId: p.patch_id,
        searchDisable: p.searchDisable,
        messages,
        signal: ctx.signal,
        now: new Date(ctx.clock.now()),
        connect: ctx.openSocket,
      }),
    Codes.SPARK_REQUEST_ERROR,
  );
}

export default definePlugin({
  type: "spark-llm",
  params: BaseLlmParams,
  streams: (p) => p.respFormat !== 2,
  retryable: true,
  // calling a model again has no side effect; the run object still refuses the re-run once a token of this node may
  // have reached a client (a second call would stream different tokens than the ones shown)
  idempotent: true,
  errorCode: Codes.LLM_NODE_EXECUTION_ERROR,
  async *run(ctx, p): AsyncGenerator<NodeEvent, NodeResult, undefined> {
    let answer = "";
    let reasoning = "";
    const stream = streamLlm(ctx, p, buildMessages(ctx, p, await imageMessage(ctx, p)));
    let step = await stream.next();
    while (!step.done) {
      const d = step.value;
      answer += d.content;
      reasoning += d.reasoning;
      if (d.reasoning) yield { type: "reasoning", content: d.reasoning };
      if (d.content) yield { type: "chunk", content: d.content };
      step = await stream.next();
    }
    if (!answer && !reasoning) throw WorkflowError.of(Codes.SPARK_REQUEST_ERROR, "LLM returned empty result");
    const result = step.value;
    return {
      outputs: mapOutputs(
        answer,
        reasoning,
        ctx.outputs,
        p,
        configCap(ctx.config, "LLM_PATTERN_MAX_CHARS", DEFAULT_PATTERN_MAX_CHARS),
      ),
      rawOutput: answer,
      ext: answer ? { raw_output: answer } : {},
      ...(result.usage ? { usage: result.usage } : {}),
    };
  },
});
