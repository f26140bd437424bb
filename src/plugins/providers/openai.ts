// The OpenAI-compatible chat-completions protocol over streaming HTTP (spec §5.3.2), through the guarded fetch.
import { Codes } from "../../engine/codes.ts";
import { clientText, WorkflowError } from "../../engine/errors.ts";
import type { GuardedFetch } from "../../engine/plugin.ts";
import { decodeStream, SseParser } from "../../engine/sse.ts";
import type { Usage } from "../../engine/types.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
  /** Spark image messages (spec §5.3 step 3) */
  content_type?: "image";
}

export interface OpenAIRequest {
  url: string;
  apiKey: string;
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  extraParams?: Record<string, unknown>;
  /** per-read timeout (retryConfig.timeout when retries are on), ms; 0 = none */
  readTimeoutMs: number;
  signal: AbortSignal;
}

export interface Delta {
  content: string;
  reasoning: string;
}

export interface OpenAIResult {
  usage?: Usage;
  finishReason: string;
}

/** `https://h/v1/chat/completions` → `https://h/v1/chat/completions`; a base URL gets `/chat/completions` added. */
export function chatCompletionsUrl(url: string): string {
  const u = url.replace(/\/+$/, "");
  return u.endsWith("/chat/completions") ? u : `${u}/chat/completions`;
}

function fail(detail: string): WorkflowError {
  return WorkflowError.of(Codes.OPEN_AI_REQUEST_ERROR, detail);
}

export async function* streamChat(
  fetch: GuardedFetch,
  req: OpenAIRequest,
): AsyncGenerator<Delta, OpenAIResult, undefined> {
  // [new] spec §5.3.2: temperature and max_tokens are sent unless extraParams overrides them
  const body: Record<string, unknown> = {
    model: req.model,
    messages: req.messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
  Object.assign(body, req.extraParams ?? {});
  let res: Response;
  // the per-read timeout also bounds the wait for the response headers (a slow first byte)
  const headers = new AbortController();
  const timer =
    req.readTimeoutMs > 0
      ? setTimeout(() => headers.abort(fail(`no response within ${req.readTimeoutMs} ms`)), req.readTimeoutMs)
      : undefined;
  try {
    res = await fetch(chatCompletionsUrl(req.url), {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${req.apiKey}`,
        Accept: "text/event-stream",
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([req.signal, headers.signal]),
      timeoutMs: 30 * 60_000,
      maxBytes: 64 * 1024 * 1024,
    });
  } catch (e) {
    if (req.signal.aborted) throw req.signal.reason;
    if (headers.signal.aborted) throw headers.signal.reason;
    throw fail(clientText(e));
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    throw fail(`HTTP ${res.status}: ${text}`);
  }
  const parser = new SseParser();
  const reader = decodeStream(res.body);
  let usage: Usage | undefined;
  let finishReason = "";
  try {
    for (;;) {
      const next = await readWithTimeout(reader, req.readTimeoutMs);
      if (next.done) break;
      for (const ev of parser.push(next.value)) {
        if (ev.data === "[DONE]") continue;
        let chunk: ChunkShape;
        try {
          chunk = JSON.parse(ev.data) as ChunkShape;
        } catch {
          throw fail(`malformed chunk: ${ev.data.slice(0, 100)}`);
        }
        if (chunk.error)
          throw fail(typeof chunk.error === "string" ? chunk.error : (chunk.error.message ?? "provider error"));
        if (chunk.usage)
          usage = {
            completion_tokens: chunk.usage.completion_tokens ?? 0,
            prompt_tokens: chunk.usage.prompt_tokens ?? 0,
            total_tokens: chunk.usage.total_tokens ?? 0,
          };
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const content = choice.delta?.content ?? "";
        const reasoning = choice.delta?.reasoning_content ?? "";
        if (content || reasoning) yield { content, reasoning };
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
    }
  } catch (e) {
    if (req.signal.aborted) throw req.signal.reason;
    if (e instanceof WorkflowError) throw e;
    // a stream cut mid-read ("Network connection lost.") is the platform's text: logged, not shown
    throw fail(clientText(e));
  }
  // a stream that ends without a finish reason was cut (a dropped connection), not finished
  if (!finishReason) throw fail("the stream ended before its finish reason");
  if (finishReason !== "stop") throw fail(`finish reason ${finishReason}`);
  return { ...(usage ? { usage } : {}), finishReason };
}

interface ChunkShape {
  choices?: { delta?: { content?: string | null; reasoning_content?: string | null }; finish_reason?: string | null }[];
  usage?: { completion_tokens?: number; prompt_tokens?: number; total_tokens?: number };
  error?: string | { message?: string };
}

async function readWithTimeout(reader: AsyncGenerator<string>, ms: number): Promise<IteratorResult<string>> {
  if (ms <= 0) return reader.next();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(fail(`no data for ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
