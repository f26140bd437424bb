// One non-streaming LLM round trip on the configured provider, for the nodes that classify or extract
// (decision-making, extractor-parameter). The tokens are collected, not relayed.
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import type { NodeContext } from "../engine/plugin.ts";
import type { Usage } from "../engine/types.ts";
import { streamChat, type ChatMessage } from "./providers/openai.ts";
import type { BaseLlmParams } from "./spark-llm.ts";

export interface LlmAnswer {
  text: string;
  usage?: Usage;
}

export async function callLlm(ctx: NodeContext, p: BaseLlmParams, messages: ChatMessage[]): Promise<LlmAnswer> {
  if (p.source !== "openai") {
    throw WorkflowError.of(Codes.SPARK_REQUEST_ERROR, `the ${p.source} protocol is not available in this build; use source "openai"`);
  }
  if (!p.url) throw WorkflowError.of(Codes.OPEN_AI_REQUEST_ERROR, "Request URL is empty");
  const stream = streamChat(ctx.fetch, {
    url: p.url,
    apiKey: p.apiKey,
    model: p.domain,
    messages,
    temperature: p.temperature,
    maxTokens: p.maxTokens,
    extraParams: p.extraParams,
    readTimeoutMs: 0,
    signal: ctx.signal,
  });
  let text = "";
  let step = await stream.next();
  while (!step.done) {
    text += step.value.content;
    step = await stream.next();
  }
  return { text, ...(step.value.usage ? { usage: step.value.usage } : {}) };
}

/** The fenced ```json block of an answer (or the whole text), parsed; undefined when it is not JSON. */
export function fencedJson(text: string): unknown {
  const m = /```(?:json)?\s*([\s\S]*?)```/.exec(text);
  try {
    return JSON.parse((m ? (m[1] ?? "") : text).trim());
  } catch {
    return undefined;
  }
}
