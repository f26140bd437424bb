// An Upstash-REST-compatible front for a real redis, so the real @upstash/redis client runs over HTTP in tests.
// The documented REST protocol, as @upstash/redis 1.x speaks it (node_modules/@upstash/redis, pkg/http.ts):
//   POST /            body: one command as a JSON array, ["SET","k","v","EX",60] (numbers and booleans stay JSON)
//   POST /pipeline    body: an array of commands → 200 [{result}|{error}, …], one entry per command
//   POST /multi-exec  the same, run as MULTI … EXEC (a queueing error aborts the whole transaction: 400 {error})
//   GET|POST /set/k/v path form; a POST body is appended as the last argument
//   Authorization: Bearer <token> (or ?_token=<token>), else 401 {"error": …}
//   a command error → 400 {"error":"ERR …"}; a reply → 200 {"result": …}
//   Upstash-Encoding: base64 (the client's default) → every string in a result is base64, except a top-level "OK"
//   status, which the client reads as is; numbers, nulls and errors are never encoded.
// It speaks RESP2 to redis over node:net. For tests it can be slowed (setDelay), taken down (setDown) and counted;
// POST /__control {scope?, delayMs?, down?, downMode?} (same bearer token) does the same from inside workerd.
// Faults can be scoped so concurrent test files do not disturb each other: a client whose URL is `${url}/~name`
// sends to /~name, /~name/pipeline, …, and only the settings of scope "name" (else the global ones) apply to it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Socket } from "node:net";

// ---- RESP2 --------------------------------------------------------------------------------------------------------

export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** A RESP2 reply: simple string (string), bulk string (Buffer), integer, nil, array, error. */
export type Reply = string | Buffer | number | null | RespError | Reply[];

function encodeArg(a: unknown): Buffer {
  if (a instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (typeof a === "string") return Buffer.from(a);
  if (typeof a === "number" || typeof a === "boolean" || typeof a === "bigint") return Buffer.from(String(a));
  return Buffer.from(JSON.stringify(a) ?? "");
}

export function encodeCommand(args: readonly unknown[]): Buffer {
  const chunks: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = encodeArg(a);
    chunks.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(chunks);
}

/** Parses one reply at `at`; undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const nl = buf.indexOf("\r\n", at);
  if (nl < 0) return undefined;
  const line = buf.subarray(at + 1, nl).toString();
  switch (buf[at]) {
    case 0x2b: // +
      return { value: line, end: nl + 2 };
    case 0x2d: // -
      return { value: new RespError(line), end: nl + 2 };
    case 0x3a: // :
      return { value: Number(line), end: nl + 2 };
    case 0x24: {
      // $
      const len = Number(line);
      if (len < 0) return { value: null, end: nl + 2 };
      if (buf.length < nl + 2 + len + 2) return undefined;
      return { value: Buffer.from(buf.subarray(nl + 2, nl + 2 + len)), end: nl + 4 + len };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      const items: Reply[] = [];
      let pos = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos);
        if (!r) return undefined;
        items.push(r.value);
        pos = r.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`bad RESP reply type ${JSON.stringify(String.fromCharCode(buf[at] ?? 0))}`);
  }
}

/**
 * One redis connection, reconnected on demand. Replies come back in request order; a batch is written in one
 * piece, so the commands of a MULTI … EXEC are never interleaved with another request's.
 */
export class RespConnection {
  readonly #port: number;
  #sock: Socket | undefined;
  #buf = Buffer.alloc(0);
  #waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];

  constructor(port: number) {
    this.#port = port;
  }

  #socket(): Socket {
    if (this.#sock) return this.#sock;
    const sock = new Socket();
    sock.setNoDelay(true);
    const fail = (e: Error): void => {
      if (this.#sock !== sock) return;
      this.#sock = undefined;
      this.#buf = Buffer.alloc(0);
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const w of waiting) w.reject(e);
      sock.destroy();
    };
    sock.on("error", (e) => fail(e));
    sock.on("close", () => fail(new Error("redis connection closed")));
    sock.on("data", (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      try {
        for (;;) {
          const r = parseReply(this.#buf, 0);
          if (!r) break;
          this.#buf = this.#buf.subarray(r.end);
          this.#waiting.shift()?.resolve(r.value);
        }
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    sock.connect(this.#port, "127.0.0.1");
    this.#sock = sock;
    return sock;
  }

  /** Sends the commands in one write; resolves with their replies in order. */
  batch(commands: readonly (readonly unknown[])[]): Promise<Reply[]> {
    if (commands.length === 0) return Promise.resolve([]);
    const sock = this.#socket();
    const replies = commands.map(
      () =>
        new Promise<Reply>((resolve, reject) => {
          this.#waiting.push({ resolve, reject });
        }),
    );
    sock.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  async send(command: readonly unknown[]): Promise<Reply> {
    const [reply] = await this.batch([command]);
    return reply ?? null;
  }

  close(): void {
    const sock = this.#sock;
    this.#sock = undefined;
    sock?.destroy();
  }
}

// ---- Upstash JSON rendering -----------------------------------------------------------------------------------------

type Json = string | number | null | Json[];

/** A reply as Upstash renders it in `result` (errors nested in arrays become their message). */
export function renderResult(reply: Reply, base64: boolean, top = true): Json {
  if (reply === null || typeof reply === "number") return reply;
  if (reply instanceof RespError) return reply.message;
  if (Array.isArray(reply)) return reply.map((r) => renderResult(r, base64, false));
  if (reply instanceof Uint8Array) return base64 ? reply.toString("base64") : reply.toString("utf8");
  // a simple string: the client keeps a top-level "OK" as is and base64-decodes every other string
  if (!base64 || (top && reply === "OK")) return reply;
  return Buffer.from(reply).toString("base64");
}

function entry(reply: Reply, base64: boolean): { result: Json } | { error: string } {
  return reply instanceof RespError ? { error: reply.message } : { result: renderResult(reply, base64) };
}

// ---- HTTP -----------------------------------------------------------------------------------------------------------

export type DownMode = "error" | "reset";

export interface UpstashFront {
  url: string;
  token: string;
  /** data requests answered or refused so far (control requests excluded), of one scope or of all */
  requests(scope?: string): number;
  /** every data request (of the scope, or everywhere) waits this long before it is handled */
  setDelay(ms: number, scope?: string): void;
  /** down: "error" answers 500 {error}; "reset" drops the connection without an answer */
  setDown(down: boolean, opts?: { mode?: DownMode; scope?: string }): void;
  close(): Promise<void>;
}

export interface Control {
  /** the scope the settings apply to; absent: the global settings */
  scope?: string;
  delayMs?: number;
  down?: boolean;
  downMode?: DownMode;
}

interface Faults {
  delayMs?: number;
  down?: boolean;
  downMode?: DownMode;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function isCommand(x: unknown): x is unknown[] {
  return (
    Array.isArray(x) &&
    x.length > 0 &&
    x.every((a) => a === null || a instanceof Uint8Array || ["string", "number", "boolean"].includes(typeof a))
  );
}

class BadRequest extends Error {}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new BadRequest("ERR failed to parse command");
  }
}

export async function startUpstashFront(opts: {
  redisPort: number;
  token: string;
  port?: number;
}): Promise<UpstashFront> {
  const redis = new RespConnection(opts.redisPort);
  const everywhere: Required<Faults> = { delayMs: 0, down: false, downMode: "error" };
  const scoped = new Map<string, Faults>();
  const counts = new Map<string, number>();
  let count = 0;
  const configure = (c: Control): void => {
    const target: Faults = c.scope ? (scoped.get(c.scope) ?? {}) : everywhere;
    if (typeof c.delayMs === "number") target.delayMs = c.delayMs;
    if (typeof c.down === "boolean") target.down = c.down;
    if (c.downMode === "error" || c.downMode === "reset") target.downMode = c.downMode;
    if (c.scope) scoped.set(c.scope, target);
  };
  const faults = (scope: string): Required<Faults> => {
    const s = scoped.get(scope) ?? {};
    return {
      delayMs: s.delayMs ?? everywhere.delayMs,
      down: s.down ?? everywhere.down,
      downMode: s.downMode ?? everywhere.downMode,
    };
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  };
  const authorised = (req: IncomingMessage, url: URL): boolean => {
    const header = req.headers.authorization ?? "";
    return header === `Bearer ${opts.token}` || url.searchParams.get("_token") === opts.token;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://front");
    let path = url.pathname.replace(/\/+$/, "") || "/";
    let scope = "";
    const scopeMatch = /^\/~([^/]+)(\/.*)?$/.exec(path);
    if (scopeMatch) {
      scope = decodeURIComponent(scopeMatch[1] ?? "");
      path = scopeMatch[2] ?? "/";
    }
    const body = await readBody(req);

    if (path === "/__control") {
      if (!authorised(req, url)) return send(res, 401, { error: "Unauthorized" });
      const c = (body.length ? parseJson(body) : {}) as Control;
      configure({ ...c, scope: c.scope ?? (scope || undefined) });
      const s = c.scope ?? scope;
      return send(res, 200, { scope: s, ...faults(s), requests: s ? (counts.get(s) ?? 0) : count });
    }

    count++;
    if (scope) counts.set(scope, (counts.get(scope) ?? 0) + 1);
    const f = faults(scope);
    if (f.delayMs > 0) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.down) {
      if (f.downMode === "reset") {
        req.socket.destroy();
        return;
      }
      return send(res, 500, { error: "ERR service unavailable (test front is down)" });
    }
    if (!authorised(req, url)) return send(res, 401, { error: "Unauthorized" });
    if (req.method !== "POST" && req.method !== "GET") return send(res, 405, { error: "ERR method not allowed" });
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";

    if (path === "/pipeline" || path === "/multi-exec") {
      const cmds = parseJson(body);
      if (!Array.isArray(cmds) || cmds.length === 0 || !cmds.every(isCommand)) {
        throw new BadRequest("ERR a pipeline is a non-empty JSON array of commands");
      }
      if (path === "/pipeline") {
        const replies = await redis.batch(cmds);
        return send(
          res,
          200,
          replies.map((r) => entry(r, base64)),
        );
      }
      const replies = await redis.batch([["MULTI"], ...cmds, ["EXEC"]]);
      const exec = replies[replies.length - 1] ?? null;
      if (exec instanceof RespError) return send(res, 400, { error: exec.message });
      if (!Array.isArray(exec)) return send(res, 400, { error: "ERR transaction discarded" });
      return send(
        res,
        200,
        exec.map((r) => entry(r, base64)),
      );
    }

    let cmd: unknown;
    if (path === "/") {
      cmd = parseJson(body);
    } else {
      // path form: /set/key/value, with a POST body as the last argument
      const args: unknown[] = path.split("/").slice(1).map(decodeURIComponent);
      if (req.method === "POST" && body.length) args.push(body);
      cmd = args;
    }
    if (!isCommand(cmd)) throw new BadRequest("ERR a command is a non-empty JSON array of strings and numbers");
    const reply = await redis.send(cmd);
    if (reply instanceof RespError) return send(res, 400, { error: reply.message });
    return send(res, 200, { result: renderResult(reply, base64) });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (e instanceof BadRequest) send(res, 400, { error: e.message });
      else send(res, 500, { error: `ERR redis unavailable: ${e instanceof Error ? e.message : String(e)}` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    token: opts.token,
    requests: (scope) => (scope ? (counts.get(scope) ?? 0) : count),
    setDelay: (ms, scope) => configure({ delayMs: ms, scope }),
    setDown: (down, o = {}) => configure({ down, downMode: o.mode ?? "error", scope: o.scope }),
    close: async () => {
      redis.close();
      // the client keeps connections alive: close them, or server.close() waits for them
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
