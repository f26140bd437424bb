// A fake Astron AI-tools service (services §2.2, §2.3, §2.5): the JSON routes under /aitools/v1 with the real
// envelope `{code, data, message, sid}`, FastAPI-style 422 bodies for missing keys, provider failures as HTTP 200 with
// a non-zero code when the text contains "__fail__", and a sleep when it contains "__slow__". /ise answers 500 as
// the original does (D-A1). Every request is recorded with its headers.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";

export interface AiToolsRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeAiTools {
  /** base URL, e.g. http://127.0.0.1:1234/aitools/v1 */
  url: string;
  requests(): AiToolsRequest[];
  close(): Promise<void>;
}

interface Route {
  required: string[];
  /** the field whose text selects a scenario */
  text: string;
  failCode: number;
  failMessage: string;
  data(body: Record<string, unknown>): unknown;
}

const ROUTES: Record<string, Route> = {
  "/ocr": {
    required: ["file_url"],
    text: "file_url",
    failCode: 45000,
    failMessage: "file download failed",
    data: (b) => [
      { file_index: 0, content: [{ name: "markdown", value: `# text of ${String(b.file_url)}`, source_data: "" }] },
    ],
  },
  "/image_understanding": {
    required: ["question", "image_url"],
    text: "question",
    failCode: 46004,
    failMessage: "websocket failure",
    data: (b) => ({ content: `An answer to "${String(b.question)}" about ${String(b.image_url)}` }),
  },
  "/image_generate": {
    required: ["prompt"],
    text: "prompt",
    failCode: 45100,
    failMessage: "图片生成失败",
    data: () => ({
      image_url: "https://oss.example.com/gen/1.jpg",
      image_url_md: "![](https://oss.example.com/gen/1.jpg)",
    }),
  },
  "/smarttts": {
    required: ["text", "vcn"],
    text: "text",
    failCode: 46001,
    failMessage: "synthesis failed",
    data: () => ({ voice_url: "https://oss.example.com/tts/1.MP3" }),
  },
};

export async function startFakeAiTools(opts: { slowMs?: number } = {}): Promise<FakeAiTools> {
  const seen: AiToolsRequest[] = [];
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]?.replace(/^\/aitools\/v1/, "") ?? "";
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        body = {};
      }
      seen.push({ method: req.method ?? "", path, headers: req.headers, body });
      const json = (status: number, value: unknown): void => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (path === "/dial_test" && req.method === "GET") return json(200, null);
      if (path === "/ise" && req.method === "POST") {
        res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("Internal Server Error");
        return;
      }
      const route = ROUTES[path];
      if (!route || req.method !== "POST") return json(404, { detail: "Not Found" });
      const missing = route.required.filter((k) => typeof body[k] !== "string");
      if (missing.length > 0) {
        return json(422, {
          detail: missing.map((k) => ({ type: "missing", loc: ["body", k], msg: "Field required", input: body })),
        });
      }
      const text = String(body[route.text]);
      const answer = (): void => {
        if (text.includes("__fail__"))
          return json(200, { code: route.failCode, message: route.failMessage, sid: "fake" });
        json(200, { code: 0, data: route.data(body), message: "success", sid: "fake" });
      };
      if (text.includes("__slow__")) setTimeout(answer, opts.slowMs ?? 2000);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/aitools/v1`,
    requests: () => seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
