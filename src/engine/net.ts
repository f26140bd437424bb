// The guarded outbound fetch every plugin uses (ARCHITECTURE decision 9): a timeout over headers and body, a
// response-size cap, http(s) only, and refusal of private, loopback and link-local addresses unless the deployment
// allows them. The decision is made on the parsed address (ipaddr.js, pure JS: it runs on workerd, Node and Deno),
// for the first URL and again for every redirect hop, since a text match misses spellings such as
// `[::ffff:127.0.0.1]`, `127.1` or `localhost.`.
//
// Names that are not IP literals are not resolved here (Workers have no DNS API): the known-local names are refused
// by name, and a public name whose DNS answer is private (DNS rebinding) is the platform's concern — on Workers,
// workerd resolves the name and Cloudflare's network cannot reach private addresses. A self-hosted Node or Deno
// deployment that can reach a private network needs its own egress rule for that.
import ipaddr from "ipaddr.js";
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

/** redirect hops followed before giving up (every hop is re-checked against the guard) */
const MAX_REDIRECTS = 5;
/** request headers that carry the caller's credentials: never sent on to another origin after a redirect */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie"] as const;

function allowed(options: FetchGuardOptions, url: URL): boolean {
  return options.allowPrivate === true || (options.allowHosts ?? []).includes(url.hostname);
}

export function createGuardedFetch(base: typeof fetch, options: FetchGuardOptions = {}): GuardedFetch {
  const code = options.errorCode ?? Codes.NODE_RUN_ERROR;
  return async (input, init = {}) => {
    const timeoutMs = init.timeoutMs ?? options.timeoutMs ?? 30_000;
    const maxBytes = init.maxBytes ?? options.maxBytes ?? 10 * 1024 * 1024;
    let url = new URL(String(input));
    const timeout = requestTimeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout.signal]) : timeout.signal;
    // redirects are followed here, not by the platform, so that every hop passes the guard
    let request: GuardedFetchInit = { ...init, signal, redirect: "manual" };
    // the timer lives until the body ends (boundedBody clears it then); a request that fails or is refused clears it here
    try {
      for (let hop = 0; ; hop++) {
        checkTarget(url, allowed(options, url), code);
        let response: Response;
        try {
          response = await base(url.toString(), request);
        } catch {
          if (timeout.signal.aborted)
            throw WorkflowError.of(code, `request to ${url.host} timed out after ${timeoutMs} ms`);
          if (init.signal?.aborted) throw init.signal.reason;
          // the platform's own text (workerd's "internal error; reference = …", a resolver's or a socket's message)
          // says nothing a client can act on and may describe the host's network: the caller's code and the host do
          throw WorkflowError.of(code, `could not reach ${url.host}`);
        }
        const location = response.headers.get("location");
        if (response.status >= 300 && response.status < 400 && location) {
          await response.body?.cancel().catch(() => undefined);
          if (hop >= MAX_REDIRECTS) throw WorkflowError.of(code, "too many redirects");
          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            throw WorkflowError.of(code, `${url.host} redirected to an invalid URL`);
          }
          // Fetch standard: 303, and 301/302 after a POST, go on as a GET without a body
          const method = (request.method ?? "GET").toUpperCase();
          if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) {
            request = { ...request, method: "GET", body: null };
          }
          if (next.origin !== url.origin) {
            const headers = new Headers(request.headers);
            for (const h of CREDENTIAL_HEADERS) headers.delete(h);
            request = { ...request, headers };
          }
          url = next;
          continue;
        }
        return boundedBody(response, maxBytes, code, timeout.clear);
      }
    } catch (e) {
      timeout.clear();
      throw e;
    }
  };
}

/**
 * A timeout that ends with the request. `AbortSignal.timeout` cannot be cleared: its timer stayed pending for the
 * whole limit after a response had long been read (30 minutes for a model's stream), and on workerd a pending timer
 * keeps a Durable Object in memory with its storage files open — every run that made a request stayed resident
 * until then (issue 15, memory).
 */
function requestTimeout(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError")), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * The response with its body counted against `maxBytes`; `done` is called once the body has ended, failed or been
 * cancelled (or at once when there is none).
 */
function boundedBody(response: Response, maxBytes: number, code: number, done: () => void): Response {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    done();
    void response.body?.cancel();
    throw WorkflowError.of(code, `response larger than ${maxBytes} bytes`);
  }
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  let seen = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        done();
        controller.error(e);
        return;
      }
      if (step.done) {
        done();
        controller.close();
        return;
      }
      seen += step.value.byteLength;
      if (seen > maxBytes) {
        done();
        controller.error(WorkflowError.of(code, `response larger than ${maxBytes} bytes`));
        void reader.cancel().catch(() => undefined);
        return;
      }
      controller.enqueue(step.value);
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** Outbound WebSockets (ws/wss) through the same guard. */
export function createSocketOpener(options: FetchGuardOptions = {}): (url: string) => WebSocket {
  const code = options.errorCode ?? Codes.NODE_RUN_ERROR;
  return (raw) => {
    const url = new URL(raw);
    if (url.protocol !== "wss:" && url.protocol !== "ws:")
      throw WorkflowError.of(code, `scheme ${url.protocol} is not a WebSocket`);
    checkTarget(new URL(`${url.protocol === "wss:" ? "https:" : "http:"}//${url.host}/`), allowed(options, url), code);
    try {
      return new WebSocket(url.toString());
    } catch {
      // as for fetch: the platform's text stays out of what a client sees
      throw WorkflowError.of(code, `could not reach ${url.host}`);
    }
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

/** Names that always mean this machine or its local network (RFC 6761, RFC 6762, RFC 8375, Debian's /etc/hosts). */
const LOCAL_NAMES = new Set(["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"]);
const LOCAL_SUFFIXES = [".localhost", ".local", ".localdomain", ".internal", ".home.arpa"];

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parse("2000::");
const NAT64_WELL_KNOWN = ipaddr.IPv6.parse("64:ff9b::");

/**
 * Whether a host must not be called: every address that is not global unicast (loopback, RFC 1918, CGNAT,
 * link-local with the metadata address 169.254.169.254, unspecified, multicast, broadcast, benchmarking,
 * documentation and reserved ranges; IPv6 ULA, link-local, site-local, discard, documentation), IPv6 forms that
 * carry such an IPv4 address (mapped, SIIT, NAT64, 6to4, Teredo), the local-use NAT64 prefix, and the known-local
 * names. Anything that does not parse as a host is refused rather than guessed at.
 */
export function isPrivateHost(hostname: string): boolean {
  // fetch sees the host the WHATWG URL parser makes of it, so decide on that same form: it turns `127.1`,
  // `2130706433`, `0x7f.1`, `0177.0.0.1`, `%31%32%37.0.0.1` and `127.0.0.1.` into 127.0.0.1, lowercases names and
  // compresses IPv6 (`[0:0:0:0:0:ffff:7f00:1]` → `[::ffff:7f00:1]`)
  if (hostname === "" || /[\s/\\?#@]/.test(hostname)) return true;
  const bare = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  let host: string;
  try {
    host = new URL(`http://${bare}/`).hostname;
  } catch {
    return true;
  }
  if (host.startsWith("[")) {
    const inner = host.slice(1, -1);
    return !ipaddr.IPv6.isValid(inner) || !isPublicV6(ipaddr.IPv6.parse(inner));
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return !isPublicV4(ipaddr.IPv4.parse(host));
  const name = host.replace(/\.+$/, "");
  return name === "" || LOCAL_NAMES.has(name) || LOCAL_SUFFIXES.some((s) => name.endsWith(s));
}

function isPublicV4(address: ipaddr.IPv4): boolean {
  // ipaddr.js names every special-purpose range (private, loopback, linkLocal, carrierGradeNat, reserved with the
  // documentation and benchmarking blocks, …); only what is left over is the public internet
  return address.range() === "unicast";
}

/** The IPv4 address held in the last 32 bits of an IPv6 address. */
function low32(parts: number[]): ipaddr.IPv4 {
  return v4(parts[6] ?? 0, parts[7] ?? 0);
}

function v4(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function isPublicV6(address: ipaddr.IPv6): boolean {
  if (address.zoneId) return false;
  const parts = address.parts;
  switch (address.range()) {
    case "ipv4Mapped": // ::ffff:a.b.c.d
    case "rfc6145": // ::ffff:0:a.b.c.d (SIIT)
      return isPublicV4(low32(parts));
    case "rfc6052":
      // the well-known NAT64 prefix 64:ff9b::/96 translates to the IPv4 address it carries; the local-use
      // 64:ff9b:1::/48 (RFC 8215) belongs to some operator's own network
      return address.match(NAT64_WELL_KNOWN, 96) && isPublicV4(low32(parts));
    case "6to4": // 2002:AABB:CCDD::/48 → A.B.C.D
      return isPublicV4(v4(parts[1] ?? 0, parts[2] ?? 0));
    case "teredo": // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, the client address inverted
      return (
        isPublicV4(v4(parts[2] ?? 0, parts[3] ?? 0)) &&
        isPublicV4(v4(~(parts[6] ?? 0) & 0xffff, ~(parts[7] ?? 0) & 0xffff))
      );
    case "unicast":
      // outside 2000::/3 nothing is allocated for the internet (this also refuses the deprecated IPv4-compatible
      // ::a.b.c.d form)
      return address.match(GLOBAL_UNICAST_V6, 3);
    default:
      return false;
  }
}
