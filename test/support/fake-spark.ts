// A fake Spark (xinghuo) chat server speaking its WebSocket frame protocol (spec §5.3.1) on loopback: it checks
// the HMAC-signed URL, reads the request frame and answers with status 0/1/2 frames, usage on the last, or an
// error code. A minimal RFC 6455 server (handshake, masked client frames, unmasked text frames), no dependency.
// The script comes in the request's `header.uid` as `script:<json>`.
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";

export interface SparkScript {
  tokens?: string[];
  reasoning?: string[];
  errorCode?: number;
  /** close the socket after this many tokens without the last frame */
  dropAfter?: number;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export const SPARK_KEY = "spark-key";
export const SPARK_SECRET = "spark-secret";

function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const head =
    payload.length < 126
      ? Buffer.from([0x81, payload.length])
      : payload.length < 65536
        ? Buffer.from([0x81, 126, payload.length >> 8, payload.length & 255])
        : Buffer.concat([
            Buffer.from([0x81, 127]),
            Buffer.alloc(4),
            Buffer.from([
              (payload.length >>> 24) & 255,
              (payload.length >>> 16) & 255,
              (payload.length >>> 8) & 255,
              payload.length & 255,
            ]),
          ]);
  return Buffer.concat([head, payload]);
}

function readFrame(buf: Buffer): { text: string; rest: Buffer } | undefined {
  if (buf.length < 2) return undefined;
  let len = (buf[1] as number) & 127;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const masked = ((buf[1] as number) & 128) !== 0;
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return undefined;
  const data = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ (buf[maskOff + (i % 4)] as number);
  return { text: data.toString(), rest: buf.subarray(off + len) };
}

/** Verifies the signed URL of spec §5.3.1 with the fake's secret. */
function signatureOk(url: URL, host: string): boolean {
  const auth = url.searchParams.get("authorization");
  const date = url.searchParams.get("date");
  if (!auth || !date) return false;
  const decoded = Buffer.from(auth, "base64").toString();
  const sig = /signature="([^"]+)"/.exec(decoded)?.[1];
  const key = /api_key="([^"]+)"/.exec(decoded)?.[1];
  const expected = createHmac("sha256", SPARK_SECRET)
    .update(`host: ${host}\ndate: ${date}\nGET ${url.pathname} HTTP/1.1`)
    .digest("base64");
  return key === SPARK_KEY && sig === expected;
}

export async function startFakeSpark(): Promise<{ url: string; requests: () => unknown[]; close(): Promise<void> }> {
  const seen: unknown[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(426);
    res.end();
  });
  server.on("upgrade", (req, socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    if (!signatureOk(url, url.searchParams.get("host") ?? "")) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    let handled = false;
    socket.on("error", () => undefined);
    socket.on("data", async (d: Buffer) => {
      if (handled) return; // only the request frame matters; close frames and the rest are ignored
      buf = Buffer.concat([buf, d]);
      const f = readFrame(buf);
      if (!f) return;
      handled = true;
      buf = f.rest;
      const request = JSON.parse(f.text) as { header?: { uid?: string } };
      seen.push(request);
      const uid = request.header?.uid ?? "";
      const s: SparkScript = uid.startsWith("script:") ? (JSON.parse(uid.slice(7)) as SparkScript) : { tokens: ["ok"] };
      const send = (obj: unknown): void => void socket.write(frame(JSON.stringify(obj)));
      if (s.errorCode) {
        send({ header: { code: s.errorCode, message: "scripted failure", sid: "cht001", status: 2 } });
        socket.end();
        return;
      }
      const parts = [
        ...(s.reasoning ?? []).map((r) => ({ reasoning_content: r, content: "" })),
        ...(s.tokens ?? []).map((t) => ({ content: t })),
      ];
      for (let i = 0; i < parts.length; i++) {
        if (s.dropAfter !== undefined && i === s.dropAfter) {
          await new Promise((r) => setTimeout(r, 20));
          socket.destroy();
          return;
        }
        const last = i === parts.length - 1;
        send({
          header: { code: 0, message: "Success", sid: "cht001", status: last ? 2 : i === 0 ? 0 : 1 },
          payload: {
            choices: { status: last ? 2 : 1, seq: i, text: [{ ...parts[i], role: "assistant", index: 0 }] },
            ...(last && s.usage ? { usage: { text: { question_tokens: 1, ...s.usage } } } : {}),
          },
        });
      }
      socket.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `ws://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/v4.0/chat`,
    requests: () => seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
