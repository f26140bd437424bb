// A fake of the remote code executor of the `ifly` contract (spec §5.9): POST ?appid=&uid= with
// {"code", "timeout_sec"} → 200 {"data":{"stdout","stderr"}}; 500 {"code":"pod not ready"} while the pod starts;
// 500 with the killed message when the code outlives timeout_sec; 500 with a traceback when the code raises.
// It cannot run Python: by default it "runs" `main` as the identity, printing the keyword arguments the trailer
// passes (the Python literal read back as JSON) with a trailing newline, as print() would. A comment line
// `# fake: {…json…}` in the code scripts anything else:
//   stdout: "text"        print exactly this (a trailing newline is added)
//   podNotReady: n        answer "pod not ready" to the first n requests carrying this code
//   raise: "Name: text"   fail with a Python traceback ending in this line
//   killed: true          fail as the executor does when it kills the code at its deadline
//   delayMs: n            answer after n ms (beyond timeout_sec*1000: killed at the deadline, like the real one)
//   status: n, body: "x"  answer with another HTTP status and this body
import { createServer, type Server } from "node:http";

export interface ExecRequest {
  appid: string | null;
  uid: string | null;
  code: string;
  timeout_sec: number;
  contentType: string;
  /** the W3C traceparent the call carried */
  traceparent?: string;
}

interface Script {
  stdout?: string;
  podNotReady?: number;
  raise?: string;
  killed?: boolean;
  delayMs?: number;
  status?: number;
  body?: string;
}

export const KILLED_MESSAGE = "exec code error::context deadline exceeded::signal: killed";

export interface FakeCodeExecutor {
  url: string;
  requests(): ExecRequest[];
  close(): Promise<void>;
}

export async function startFakeCodeExecutor(): Promise<FakeCodeExecutor> {
  const seen: ExecRequest[] = [];
  const notReadyServed = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const body = JSON.parse(raw || "{}") as { code?: string; timeout_sec?: number };
      const code = body.code ?? "";
      const timeoutSec = body.timeout_sec ?? 0;
      seen.push({
        appid: url.searchParams.get("appid"),
        uid: url.searchParams.get("uid"),
        code,
        timeout_sec: timeoutSec,
        contentType: req.headers["content-type"] ?? "",
        ...(typeof req.headers.traceparent === "string" ? { traceparent: req.headers.traceparent } : {}),
      });
      const script = scriptOf(code);
      const send = (status: number, payload: unknown): void => {
        if (res.destroyed) return;
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(typeof payload === "string" ? payload : JSON.stringify(payload));
      };
      const served = notReadyServed.get(code) ?? 0;
      if (script.podNotReady !== undefined && served < script.podNotReady) {
        notReadyServed.set(code, served + 1);
        return send(500, { code: "pod not ready", message: "pod not ready" });
      }
      const killed = (): void => send(500, { code: 500, message: KILLED_MESSAGE, data: { stdout: "", stderr: "" } });
      const answer = (): void => {
        if (script.status !== undefined) return send(script.status, script.body ?? "");
        if (script.killed) return killed();
        if (script.raise !== undefined) {
          const stderr = `Traceback (most recent call last):\n  File "<stdin>", line 12, in <module>\n  File "<stdin>", line 2, in main\n${script.raise}\n`;
          return send(500, { code: 500, message: "exec code error::exit status 1", data: { stdout: "", stderr } });
        }
        const stdout = script.stdout ?? JSON.stringify(kwargsOf(code));
        send(200, { code: 0, message: "success", data: { stdout: `${stdout}\n`, stderr: "" } });
      };
      const delay = script.delayMs ?? 0;
      if (delay > 0 && timeoutSec > 0 && delay >= timeoutSec * 1000) setTimeout(killed, timeoutSec * 1000);
      else if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/sandbox/run`,
    requests: () => seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function scriptOf(code: string): Script {
  const m = /^#\s*fake:\s*(\{.*\})\s*$/m.exec(code);
  return m ? (JSON.parse(m[1] as string) as Script) : {};
}

/** The dict literal of the trailer's `main(**{…})`, read back as JSON (True/False/None outside strings). */
export function kwargsOf(code: string): unknown {
  const m = /^__ifly_output = main\(\*\*(.*)\)$/m.exec(code);
  if (!m) return null;
  const literal = m[1] as string;
  let json = "";
  let last = 0;
  for (const s of literal.matchAll(/"(?:[^"\\]|\\.)*"/g)) {
    json += words(literal.slice(last, s.index)) + s[0];
    last = (s.index ?? 0) + s[0].length;
  }
  json += words(literal.slice(last));
  return JSON.parse(json) as unknown;
}

function words(s: string): string {
  return s
    .replace(/\bTrue\b/g, "true")
    .replace(/\bFalse\b/g, "false")
    .replace(/\bNone\b/g, "null");
}
