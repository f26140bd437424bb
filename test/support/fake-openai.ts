// A fake OpenAI-compatible chat-completions server (real HTTP, real SSE) for the LLM node's tests. What it does is
// scripted per request through the body's `script` field (a flow sets it through nodeParam.extraParams):
// tokens, reasoning deltas, delays, slow first byte, HTTP errors, finish reasons, usage, mid-stream disconnects.
import { createServer, type Server } from "node:http";

export interface LlmScript {
  tokens?: string[];
  reasoning?: string[];
  delayMs?: number;
  firstByteDelayMs?: number;
  status?: number;
  errorBody?: string;
  finishReason?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** close the connection after this many tokens */
  disconnectAfter?: number;
  /** a script per turn: the request's number of user messages picks one (dialogs that grow call after call) */
  turns?: LlmScript[];
}

export interface FakeOpenAI {
  url: string;
  requests: () => Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const seen: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", async () => {
      if (req.url === "/__requests") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(seen));
        return;
      }
      const body = JSON.parse(raw || "{}") as Record<string, unknown> & { script?: LlmScript };
      seen.push({
        ...body,
        authorization: req.headers.authorization ?? "",
        ...(typeof req.headers.traceparent === "string" ? { traceparent: req.headers.traceparent } : {}),
        path: req.url ?? "",
      });
      const base = body.script ?? { tokens: ["ok"] };
      const users = Array.isArray(body.messages)
        ? (body.messages as { role?: string }[]).filter((m) => m.role === "user").length
        : 1;
      const s: LlmScript = base.turns ? (base.turns[Math.min(users, base.turns.length) - 1] ?? {}) : base;
      const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
      if (s.firstByteDelayMs) await sleep(s.firstByteDelayMs);
      if (s.status && s.status !== 200) {
        res.writeHead(s.status, { "Content-Type": "application/json" });
        res.end(s.errorBody ?? JSON.stringify({ error: { message: `scripted ${s.status}` } }));
        return;
      }
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: LlmScript["usage"]): string =>
        `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
      for (const r of s.reasoning ?? []) {
        if (s.delayMs) await sleep(s.delayMs);
        res.write(chunk({ role: "assistant", content: null, reasoning_content: r }, null));
      }
      const tokens = s.tokens ?? [];
      for (let i = 0; i < tokens.length; i++) {
        if (s.disconnectAfter !== undefined && i === s.disconnectAfter) {
          // let what was written reach the client, then drop the connection mid-stream
          await sleep(30);
          res.socket?.destroy();
          return;
        }
        if (s.delayMs) await sleep(s.delayMs);
        res.write(chunk({ content: tokens[i] }, null));
      }
      res.write(chunk({}, s.finishReason ?? "stop"));
      if (s.usage)
        res.write(
          `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", choices: [], usage: s.usage })}\n\n`,
        );
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  return {
    url,
    requests: () => seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
