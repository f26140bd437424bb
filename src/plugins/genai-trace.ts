// Issue 17: a model call as a span in the OpenTelemetry GenAI conventions (LLM, decision and extractor nodes all call
// models through `streamLlm`). The span is a client span under the node attempt: operation, provider, request model
// and parameters up front; usage, finish reasons and the time to the first chunk when the stream ends. Prompt and
// completion text only with OTEL_CAPTURE_CONTENT=true (the tracer's `captureContent`).
import { toWorkflowError } from "../engine/errors.ts";
import type { GuardedFetch, NodeContext } from "../engine/plugin.ts";
import { SPAN_KIND_CLIENT, type ActiveSpan } from "../engine/trace.ts";
import type { Usage } from "../engine/types.ts";
import type { ChatMessage, Delta } from "./providers/openai.ts";

export interface ModelCall {
  /** `gen_ai.provider.name`: "openai" for the OpenAI-compatible protocol, "iflytek.spark" for Spark */
  provider: string;
  model: string;
  url: string;
  temperature?: number;
  maxTokens?: number;
  topK?: number;
  messages: ChatMessage[];
}

/**
 * Runs `call` (a provider stream) inside a GenAI span when the node is traced; the fetch handed to `call` makes its
 * HTTP requests children of that span. Without a trace, `call` runs with the node's fetch and nothing else happens.
 */
export function tracedModelCall<R extends { usage?: Usage; finishReason?: string }>(
  ctx: NodeContext,
  m: ModelCall,
  call: (fetch: GuardedFetch) => AsyncGenerator<Delta, R, undefined>,
  errorCode: number,
): AsyncGenerator<Delta, R, undefined> {
  const parent = ctx.trace;
  if (!parent) return call(ctx.fetch);
  let host = "";
  try {
    host = new URL(m.url).hostname;
  } catch {
    // an unparsable URL fails in the provider with its own code
  }
  const span = parent.child(`chat ${m.model}`, SPAN_KIND_CLIENT, {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": m.provider,
    "gen_ai.request.model": m.model,
    ...(host ? { "server.address": host } : {}),
    ...(m.temperature !== undefined ? { "gen_ai.request.temperature": m.temperature } : {}),
    ...(m.maxTokens !== undefined ? { "gen_ai.request.max_tokens": m.maxTokens } : {}),
    ...(m.topK !== undefined ? { "gen_ai.request.top_k": m.topK } : {}),
  });
  if (span.captureContent) span.set({ "gen_ai.input.messages": JSON.stringify(inputMessages(m.messages)) });
  return wrap(span, call(span.fetch(ctx.fetch)), errorCode, () => ctx.clock.now());
}

async function* wrap<R extends { usage?: Usage; finishReason?: string }>(
  span: ActiveSpan,
  inner: AsyncGenerator<Delta, R, undefined>,
  errorCode: number,
  now: () => number,
): AsyncGenerator<Delta, R, undefined> {
  const started = now();
  let first = true;
  let text = "";
  let ended = false;
  try {
    for (;;) {
      const step = await inner.next();
      if (step.done) {
        const r = step.value;
        span.set({
          ...(r.usage
            ? {
                "gen_ai.usage.input_tokens": r.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": r.usage.completion_tokens,
              }
            : {}),
          "gen_ai.response.finish_reasons": [r.finishReason ?? "stop"],
          ...(span.captureContent
            ? {
                "gen_ai.output.messages": JSON.stringify([
                  {
                    role: "assistant",
                    parts: [{ type: "text", content: text }],
                    finish_reason: r.finishReason ?? "stop",
                  },
                ]),
              }
            : {}),
        });
        ended = true;
        span.end();
        return r;
      }
      if (first && (step.value.content || step.value.reasoning)) {
        first = false;
        span.event("gen_ai.first_chunk");
        span.set({ "gen_ai.response.time_to_first_chunk": (now() - started) / 1000 });
      }
      if (span.captureContent) text += step.value.content;
      yield step.value;
    }
  } catch (e) {
    ended = true;
    span.end(toWorkflowError(e, errorCode));
    throw e;
  } finally {
    // the consumer stopped reading (the node was cancelled): the call ends here
    if (!ended) span.end({ code: "cancelled" });
  }
}

function inputMessages(messages: ChatMessage[]): unknown[] {
  return messages.map((msg) => ({
    role: msg.role,
    parts: [msg.content_type === "image" ? { type: "uri", uri: msg.content } : { type: "text", content: msg.content }],
  }));
}
