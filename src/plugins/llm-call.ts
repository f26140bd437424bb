// One non-streaming LLM round trip on the configured provider, for the nodes that classify or extract
// (decision-making, extractor-parameter). The tokens are collected, not relayed.
import type { NodeContext } from "../engine/plugin.ts";
import type { Usage } from "../engine/types.ts";
import type { ChatMessage } from "./providers/openai.ts";
import { streamLlm, type BaseLlmParams } from "./spark-llm.ts";

export interface LlmAnswer {
  text: string;
  usage?: Usage;
}

export async function callLlm(ctx: NodeContext, p: BaseLlmParams, messages: ChatMessage[]): Promise<LlmAnswer> {
  const stream = streamLlm(ctx, p, messages);
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
