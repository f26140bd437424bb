// A fake Astron RPA service (services §5.3, §5.4): `POST /rpa/v1/exec` answers real SSE with `\r\n` separators,
// `: ping - <time>` comments and exactly one `data:` event `{code, message, sid, data}`, chosen by `project_id`:
//   ok          → code 0, data = params echoed plus {"done": true}
//   fail        → 55002 (robot failed on the platform)
//   create_fail → 55001 immediately
//   timeout     → 55003 after a few pings (the platform's own timeout)
//   abort       → pings, then the stream closes without a data event
//   slow        → pings until the client goes away
// A missing Authorization header is HTTP 422 (FastAPI default body). `failNext(n)` makes the next n calls HTTP 500.
import { createServer, type Server } from "node:http";

export interface RpaRequest {
  authorization: string | undefined;
  body: Record<string, unknown>;
  /** the W3C traceparent the call carried */
  traceparent?: string;
}

export interface FakeRpa {
  /** the RPA_URL value (base, without /rpa/v1) */
  url: string;
  requests(): RpaRequest[];
  failNext(n: number): void;
  close(): Promise<void>;
}

export async function startFakeRpa(opts: { pingMs?: number; pings?: number } = {}): Promise<FakeRpa> {
  const pingMs = opts.pingMs ?? 20;
  const pings = opts.pings ?? 3;
  const seen: RpaRequest[] = [];
  let failing = 0;
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      if (req.method === "GET" && req.url === "/rpa/v1/ping") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end('"pong"');
        return;
      }
      if (req.method !== "POST" || req.url !== "/rpa/v1/exec") {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end('{"detail":"Not Found"}');
        return;
      }
      const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
      seen.push({
        authorization: req.headers.authorization,
        body,
        ...(typeof req.headers.traceparent === "string" ? { traceparent: req.headers.traceparent } : {}),
      });
      if (!req.headers.authorization) {
        res.writeHead(422, { "Content-Type": "application/json" });
        res.end(
          JSON.stringify({
            detail: [{ type: "missing", loc: ["header", "authorization"], msg: "Field required", input: null }],
          }),
        );
        return;
      }
      if (failing > 0) {
        failing--;
        res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("Internal Server Error");
        return;
      }
      const sid = typeof body.sid === "string" && body.sid ? body.sid : "rpa-fake";
      const params =
        typeof body.params === "object" && body.params !== null ? (body.params as Record<string, unknown>) : {};
      res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" });
      const ping = (): boolean => res.write(`: ping - ${new Date().toISOString()}\r\n\r\n`);
      const data = (code: number, message: string, d: unknown): void => {
        res.write(`data: ${JSON.stringify({ code, message, sid, data: d })}\r\n\r\n`);
        res.end();
      };
      const afterPings = (n: number, then: () => void): void => {
        let i = 0;
        const timer = setInterval(() => {
          if (i++ >= n) {
            clearInterval(timer);
            then();
          } else ping();
        }, pingMs);
        res.on("close", () => clearInterval(timer));
      };
      switch (body.project_id) {
        case "ok":
          return afterPings(pings, () => data(0, "Success", { ...params, done: true }));
        case "fail":
          return afterPings(pings, () => data(55002, "Query task error: robot step 3 failed", null));
        case "create_fail":
          return data(55001, "Create task error, detail: project not found", null);
        case "timeout":
          return afterPings(pings, () => data(55003, "Timeout error", null));
        case "abort":
          return afterPings(pings, () => res.end());
        case "slow":
          return afterPings(Number.MAX_SAFE_INTEGER, () => undefined);
        default:
          return data(55001, `Create task error, detail: unknown project ${String(body.project_id)}`, null);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
    requests: () => seen,
    failNext: (n) => void (failing = n),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
