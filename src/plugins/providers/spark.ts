// The Spark (xinghuo) chat protocol over WebSocket (spec §5.3.1): an HMAC-signed URL, one request message, frames
// with status 0/1/2 until the last, usage on the last, and Spark's error codes mapped 1:1 (§5.3.4).
import { Codes } from "../../engine/codes.ts";
import { WorkflowError } from "../../engine/errors.ts";
import type { Usage } from "../../engine/types.ts";
import type { ChatMessage, Delta } from "./openai.ts";

// spec §5.3.4
const SPARK_CODES: Record<number, number> = {
  10000: 20350,
  10001: 20351,
  10002: 20352,
  10003: 20353,
  10004: 20354,
  10005: 20355,
  10006: 20356,
  10007: 20357,
  10008: 20358,
  10009: 20359,
  10010: 20360,
  10011: 20361,
  10012: 20362,
  10013: 20363,
  10014: 20364,
  10015: 20365,
  10016: 20366,
  10017: 20367,
  10019: 20368,
  10110: 20369,
  10163: 20370,
  10222: 20371,
  10907: 20372,
  11200: 20373,
  11201: 20374,
  11202: 20375,
  11203: 20376,
};

export function sparkError(code: number, message: string): WorkflowError {
  const mapped = SPARK_CODES[code];
  return mapped === undefined
    ? WorkflowError.of(Codes.SPARK_REQUEST_ERROR, `${code}: ${message}`)
    : new WorkflowError(mapped, `${message} (Spark ${code})`);
}

const encoder = new TextEncoder();

function base64(bytes: ArrayBuffer | Uint8Array): string {
  let s = "";
  for (const b of bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

/** spec §5.3.1: `?authorization=…&date=…&host=…` signed with HMAC-SHA256 over host, date and request line. */
export async function signSparkUrl(url: string, apiKey: string, apiSecret: string, now: Date): Promise<string> {
  const u = new URL(url);
  const date = now.toUTCString();
  const text = `host: ${u.host}\ndate: ${date}\nGET ${u.pathname} HTTP/1.1`;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(apiSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = base64(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
  const authorization = base64(
    encoder.encode(
      `api_key="${apiKey}", algorithm="hmac-sha256", headers="host date request-line", signature="${signature}"`,
    ),
  );
  u.search = new URLSearchParams({ authorization, date, host: u.host }).toString();
  return u.toString();
}

export interface SparkRequest {
  url: string;
  appId: string;
  apiKey: string;
  apiSecret: string;
  uid: string;
  domain: string;
  temperature: number;
  maxTokens: number;
  topK: number;
  patchId: string[];
  searchDisable: boolean;
  messages: ChatMessage[];
  signal: AbortSignal;
  now: Date;
  /** opens the socket; the Web-standard WebSocket by default */
  connect: (url: string) => WebSocket;
}

interface SparkFrame {
  header?: { code?: number; message?: string; sid?: string; status?: number };
  payload?: {
    choices?: { status?: number; text?: { content?: string; reasoning_content?: string }[] };
    usage?: { text?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } };
  };
}

export async function* streamSpark(req: SparkRequest): AsyncGenerator<Delta, { usage?: Usage }, undefined> {
  const url = await signSparkUrl(req.url, req.apiKey, req.apiSecret, req.now);
  const ws = req.connect(url);
  const queue: (SparkFrame | Error | "closed")[] = [];
  let wake: (() => void) | undefined;
  const push = (item: SparkFrame | Error | "closed"): void => {
    queue.push(item);
    wake?.();
  };
  ws.addEventListener("message", (ev: MessageEvent) => {
    try {
      push(
        JSON.parse(
          typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer),
        ) as SparkFrame,
      );
    } catch (e) {
      push(e instanceof Error ? e : new Error(String(e)));
    }
  });
  ws.addEventListener("error", () => push(new Error("WebSocket error")));
  ws.addEventListener("close", () => push("closed"));
  const onAbort = (): void => ws.close();
  req.signal.addEventListener("abort", onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      if (ws.readyState === 1) return resolve();
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener(
        "error",
        () => reject(WorkflowError.of(Codes.SPARK_REQUEST_ERROR, "WebSocket connection failed")),
        { once: true },
      );
    });
    const chat: Record<string, unknown> = {
      domain: req.domain,
      temperature: req.temperature,
      max_tokens: req.maxTokens,
      top_k: req.topK,
      auditing: "default",
    };
    if (req.searchDisable) chat.question_type = "not_knowledge";
    else
      chat.tools = [{ type: "web_search", web_search: { enable: true, show_ref_label: false, search_mode: "normal" } }];
    ws.send(
      JSON.stringify({
        header: { app_id: req.appId, uid: req.uid, ...(req.patchId.length ? { patch_id: req.patchId } : {}) },
        parameter: { chat },
        payload: { message: { text: req.messages } },
      }),
    );
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const item = queue.shift() as SparkFrame | Error | "closed";
      if (item === "closed")
        throw WorkflowError.of(Codes.SPARK_REQUEST_ERROR, "the connection closed before the last frame");
      if (item instanceof Error)
        throw item instanceof WorkflowError ? item : WorkflowError.of(Codes.SPARK_REQUEST_ERROR, item.message);
      const code = item.header?.code ?? 0;
      if (code !== 0) throw sparkError(code, item.header?.message ?? "");
      const text = item.payload?.choices?.text?.[0];
      const content = text?.content ?? "";
      const reasoning = text?.reasoning_content ?? "";
      if (content || reasoning) yield { content, reasoning };
      if ((item.header?.status ?? item.payload?.choices?.status) === 2) {
        const u = item.payload?.usage?.text;
        return u
          ? {
              usage: {
                completion_tokens: u.completion_tokens ?? 0,
                prompt_tokens: u.prompt_tokens ?? 0,
                total_tokens: u.total_tokens ?? 0,
              },
            }
          : {};
      }
    }
  } finally {
    req.signal.removeEventListener("abort", onAbort);
    try {
      ws.close();
    } catch {
      // already closed
    }
  }
}
