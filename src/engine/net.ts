// The guarded outbound fetch every plugin uses (ARCHITECTURE decision 9): a timeout over headers and body, a
// response-size cap, http(s) only, and refusal of private, loopback and link-local addresses unless the deployment
// allows them. Hostnames are checked by name (no DNS in Workers): a public name that resolves to a private address
// is the platform's concern (Workers cannot reach private networks anyway).
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { GuardedFetch, GuardedFetchInit } from "./plugin.ts";

export interface FetchGuardOptions {
  /** allow private, loopback and link-local targets (tests and private deployments) */
  allowPrivate?: boolean;
  /** private hosts allowed by name even when `allowPrivate` is off (e.g. one loopback service) */
  allowHosts?: readonly string[];
  /** default total timeout, ms */
  timeoutMs?: number;
  /** default body cap, bytes */
  maxBytes?: number;
  /** the code a refused or failed request carries */
  errorCode?: number;
}

const MAX_REDIRECTS = 5;

export function createGuardedFetch(base: typeof fetch, options: FetchGuardOptions = {}): GuardedFetch {
  const code = options.errorCode ?? Codes.NODE_RUN_ERROR;
  return async (input, init = {}) => {
    const timeoutMs = init.timeoutMs ?? options.timeoutMs ?? 30_000;
    const maxBytes = init.maxBytes ?? options.maxBytes ?? 10 * 1024 * 1024;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let url = new URL(String(input));
    let request: GuardedFetchInit = { ...init, signal, redirect: "manual" };
    for (let hop = 0; ; hop++) {
      checkTarget(url, options.allowPrivate === true || (options.allowHosts ?? []).includes(url.hostname), code);
      let response: Response;
      try {
        response = await base(url.toString(), request);
      } catch (e) {
        if (timeout.aborted) throw WorkflowError.of(code, `request to ${url.host} timed out after ${timeoutMs} ms`);
        if (init.signal?.aborted) throw init.signal.reason;
        throw WorkflowError.of(code, `request to ${url.host} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        if (hop >= MAX_REDIRECTS) throw WorkflowError.of(code, "too many redirects");
        url = new URL(location, url);
        if (response.status === 303) request = { ...request, method: "GET", body: null };
        await response.body?.cancel();
        continue;
      }
      return capBody(response, maxBytes, code);
    }
  };
}

function capBody(response: Response, maxBytes: number, code: number): Response {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    void response.body?.cancel();
    throw WorkflowError.of(code, `response larger than ${maxBytes} bytes`);
  }
  if (!response.body) return response;
  let seen = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(WorkflowError.of(code, `response larger than ${maxBytes} bytes`));
      else controller.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(counter), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Outbound WebSockets (ws/wss) through the same guard. */
export function createSocketOpener(options: FetchGuardOptions = {}): (url: string) => WebSocket {
  const code = options.errorCode ?? Codes.NODE_RUN_ERROR;
  return (raw) => {
    const url = new URL(raw);
    if (url.protocol !== "wss:" && url.protocol !== "ws:") throw WorkflowError.of(code, `scheme ${url.protocol} is not a WebSocket`);
    const asHttp = new URL(raw.replace(/^ws/, "http"));
    checkTarget(asHttp, options.allowPrivate === true || (options.allowHosts ?? []).includes(url.hostname), code);
    return new WebSocket(url.toString());
  };
}

export function checkTarget(url: URL, allowPrivate: boolean, code: number): void {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw WorkflowError.of(code, `scheme ${url.protocol} is not allowed`);
  }
  if (!allowPrivate && isPrivateHost(url.hostname)) {
    throw WorkflowError.of(code, `refused to call a private address: ${url.hostname}`);
  }
}

/** Loopback, private (RFC 1918, ULA), link-local, unspecified and local names. */
export function isPrivateHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local") || h.endsWith(".internal")) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  if (h.includes(":")) {
    if (h === "::1" || h === "::") return true;
    if (/^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (mapped) return isPrivateHost(mapped[1] as string);
  }
  return false;
}
