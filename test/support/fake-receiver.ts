// A webhook callback receiver (issue 6): records every POST it gets (headers and body) per path, and can be told to
// fail the first N deliveries to a path (`?fail=N`, HTTP 500) or to answer slowly (`?delayMs=`), like a receiver
// that is down for a while. `GET /__received/<path>` lists what arrived at `/<path>`.
import { createServer, type Server } from "node:http";

export interface Received {
  headers: Record<string, string>;
  body: string;
  at: number;
  answered: number;
}

export async function startFakeReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const seen = new Map<string, Received[]>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname.startsWith("/__received/")) {
      const key = url.pathname.slice("/__received".length);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(seen.get(key) ?? []));
      return;
    }
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const list = seen.get(url.pathname) ?? [];
      seen.set(url.pathname, list);
      const fail = Number(url.searchParams.get("fail") ?? "0");
      const status = list.length < fail ? 500 : 200;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      list.push({ headers, body, at: Date.now(), answered: status });
      const delay = Number(url.searchParams.get("delayMs") ?? "0");
      setTimeout(() => {
        res.writeHead(status, { "Content-Type": "text/plain" });
        res.end(status === 200 ? "ok" : "down");
      }, delay);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
