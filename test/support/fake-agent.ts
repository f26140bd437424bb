// A fake Astron agent service (spec §5.15, §10.1): `data:` chunks (OpenAI chunk + code/message), tool calls,
// usage on the final chunk, then `data: [DONE]`; labelled application/json as the real one is. Scripted per
// request through `instruction.answer` = "script:<json>" or the default script.
import { createServer, type Server } from "node:http";

export interface AgentScript {
  reasoning?: string[];
  toolCalls?: { type: string; reason: string; name: string; arguments: string; response: string }[];
  tokens?: string[];
  errorCode?: number;
  noFinal?: boolean;
}

export async function startFakeAgent(): Promise<{
  url: string;
  requests: () => Record<string, unknown>[];
  close(): Promise<void>;
}> {
  const seen: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as { instruction?: { answer?: string } };
      seen.push({
        ...body,
        consumer: req.headers["x-consumer-username"] ?? "",
        ...(typeof req.headers.traceparent === "string" ? { traceparent: req.headers.traceparent } : {}),
      });
      const answer = body.instruction?.answer ?? "";
      const s: AgentScript = answer.startsWith("script:")
        ? (JSON.parse(answer.slice(7)) as AgentScript)
        : { tokens: ["ok"] };
      res.writeHead(200, { "Content-Type": "application/json" });
      const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
        `data: ${JSON.stringify({ code: 0, message: "success", id: "a1", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
      if (s.errorCode) {
        res.end(`data: ${JSON.stringify({ code: s.errorCode, message: "agent says no", choices: [] })}\n\n`);
        return;
      }
      for (const r of s.reasoning ?? []) res.write(chunk({ role: "assistant", reasoning_content: r }));
      for (const t of s.toolCalls ?? []) {
        res.write(
          chunk({
            role: "assistant",
            tool_calls: [
              {
                id: "c1",
                type: t.type,
                reason: t.reason,
                function: { name: t.name, arguments: t.arguments, response: t.response },
              },
            ],
          }),
        );
      }
      for (const t of s.tokens ?? []) res.write(chunk({ role: "assistant", content: t }));
      if (!s.noFinal) {
        res.write(
          `data: ${JSON.stringify({ code: 0, message: "success", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } })}\n\n`,
        );
        res.write("data: [DONE]\n\n");
      }
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/agent/v1/custom/chat/completions`,
    requests: () => seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
