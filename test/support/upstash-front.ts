// An Upstash-REST-compatible front for a real redis (the documented REST protocol: a command as a JSON array,
// /pipeline and /multi-exec with arrays of commands, bearer-token auth, base64 response encoding on request), so
// the real @upstash/redis client is exercised over HTTP. It speaks RESP to redis over one socket.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Socket } from "node:net";

type Reply = string | number | null | Reply[] | { error: string };

class RespClient {
  readonly #sock: Socket;
  #buf = Buffer.alloc(0);
  readonly #waiting: ((r: Reply) => void)[] = [];

  constructor(port: number) {
    this.#sock = new Socket();
    this.#sock.connect(port, "127.0.0.1");
    this.#sock.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      for (;;) {
        const r = parse(this.#buf, 0);
        if (!r) break;
        this.#buf = this.#buf.subarray(r.end);
        this.#waiting.shift()?.(r.value);
      }
    });
  }

  send(args: unknown[]): Promise<Reply> {
    const parts = args.map((a) => Buffer.from(typeof a === "string" ? a : JSON.stringify(a)));
    const head = `*${parts.length}\r\n`;
    const chunks: Buffer[] = [Buffer.from(head)];
    for (const p of parts) chunks.push(Buffer.from(`$${p.length}\r\n`), p, Buffer.from("\r\n"));
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#sock.write(Buffer.concat(chunks));
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

function parse(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const nl = buf.indexOf("\r\n", at);
  if (nl < 0) return undefined;
  const type = String.fromCharCode(buf[at] as number);
  const line = buf.subarray(at + 1, nl).toString();
  switch (type) {
    case "+":
      return { value: line, end: nl + 2 };
    case "-":
      return { value: { error: line }, end: nl + 2 };
    case ":":
      return { value: Number(line), end: nl + 2 };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, end: nl + 2 };
      if (buf.length < nl + 2 + len + 2) return undefined;
      return { value: buf.subarray(nl + 2, nl + 2 + len).toString(), end: nl + 2 + len + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      const items: Reply[] = [];
      let pos = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, pos);
        if (!r) return undefined;
        items.push(r.value);
        pos = r.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`bad RESP type ${type}`);
  }
}

function encode(v: Reply, base64: boolean, simple: boolean): unknown {
  if (v === null || typeof v === "number") return v;
  if (Array.isArray(v)) return v.map((x) => encode(x, base64, false));
  if (typeof v === "object") return v;
  // simple strings (OK) stay plain; bulk strings are base64 when asked
  return base64 && !simple ? Buffer.from(v).toString("base64") : v;
}

function answer(reply: Reply, base64: boolean): { result?: unknown; error?: string } {
  if (reply !== null && typeof reply === "object" && !Array.isArray(reply)) return { error: reply.error };
  return { result: encode(reply, base64, reply === "OK" || reply === "QUEUED") };
}

export interface UpstashFront {
  url: string;
  token: string;
  requests: () => number;
  setDelay(ms: number): void;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function startUpstashFront(opts: { redisPort: number; token: string }): Promise<UpstashFront> {
  const redis = new RespClient(opts.redisPort);
  let delay = 0;
  let down = false;
  let count = 0;
  const read = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve) => {
      let s = "";
      req.on("data", (c: Buffer) => (s += c.toString()));
      req.on("end", () => resolve(s));
    });
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const text = await read(req);
    if (path === "/__control") {
      if (req.headers.authorization !== `Bearer ${opts.token}`) return send(res, 401, { error: "Unauthorized" });
      const c = JSON.parse(text || "{}") as { delayMs?: number; down?: boolean };
      if (typeof c.delayMs === "number") delay = c.delayMs;
      if (typeof c.down === "boolean") down = c.down;
      return send(res, 200, { delay, down, requests: count });
    }
    count++;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (down) return send(res, 503, { error: "service unavailable" });
    if (req.headers.authorization !== `Bearer ${opts.token}`) return send(res, 401, { error: "Unauthorized" });
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, { error: "ERR failed to parse command" });
    }
    if (path === "/pipeline" || path === "/multi-exec") {
      if (!Array.isArray(body) || !body.every(Array.isArray)) return send(res, 400, { error: "ERR pipeline expects an array of commands" });
      const cmds = body as unknown[][];
      if (path === "/multi-exec") {
        await redis.send(["MULTI"]);
        for (const cmd of cmds) await redis.send(cmd);
        const replies = (await redis.send(["EXEC"])) as Reply[];
        return send(res, 200, (replies ?? []).map((r) => answer(r, base64)));
      }
      const replies = await Promise.all(cmds.map((cmd) => redis.send(cmd)));
      return send(res, 200, replies.map((r) => answer(r, base64)));
    }
    let cmd: unknown[];
    if (Array.isArray(body)) cmd = body;
    else cmd = path.split("/").filter(Boolean).map(decodeURIComponent);
    if (cmd.length === 0) return send(res, 400, { error: "ERR empty command" });
    const out = answer(await redis.send(cmd), base64);
    return send(res, out.error ? 400 : 200, out);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    token: opts.token,
    requests: () => count,
    setDelay: (ms) => void (delay = ms),
    setDown: (d) => void (down = d),
    close: async () => {
      redis.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
