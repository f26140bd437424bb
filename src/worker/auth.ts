// Authentication (spec §1.4 [new]), per deployment (AUTH_MODE):
//  - gateway: trust X-Consumer-Username (a verifying gateway in front; the original's only mode);
//  - key: `Authorization: <key>:<secret>` or `Bearer <key>:<secret>` must match the app named by the header;
//  - hmac: the iFlytek gateway HMAC headers (host, date, request-line, digest) with a clock-skew window.
// Failures answer with the normal envelope, never an HTML 401.
import { Codes, WorkflowError } from "../engine/index.ts";
import type { Catalog } from "./store/catalog.ts";

export type AuthMode = "gateway" | "key" | "hmac";

export function authMode(value: string | undefined): AuthMode {
  return value === "key" || value === "hmac" ? value : "gateway";
}

const encoder = new TextEncoder();

function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function base64(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

export async function hmacSignature(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return base64(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
}

export async function sha256Digest(body: ArrayBuffer | string): Promise<string> {
  const data = typeof body === "string" ? encoder.encode(body) : body;
  return `SHA256=${base64(await crypto.subtle.digest("SHA-256", data))}`;
}

function denied(detail: string): WorkflowError {
  return new WorkflowError(Codes.PARAM_ERROR, `Authentication failed: ${detail}`);
}

export interface AuthRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: () => Promise<ArrayBuffer>;
}

/**
 * Verifies the caller and returns the app id the request acts for (X-Consumer-Username, or the HMAC key's app).
 * `required`: the route needs an app id (spec §1.1 "Required header").
 */
export async function authenticate(mode: AuthMode, req: AuthRequest, catalog: Catalog, opts: { skewSeconds: number; now: number }): Promise<string | undefined> {
  const consumer = req.headers.get("x-consumer-username") ?? undefined;
  if (mode === "gateway") return consumer;
  if (mode === "key") {
    const auth = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
    if (!consumer) throw denied("X-Consumer-Username is required");
    const sep = auth.indexOf(":");
    if (!auth || sep < 0) throw denied("Authorization must be <key>:<secret>");
    const app = await catalog.app(consumer);
    if (!app || !timingSafeEqual(auth.slice(0, sep), app.api_key) || !timingSafeEqual(auth.slice(sep + 1), app.api_secret)) {
      throw denied("unknown app or wrong key");
    }
    return consumer;
  }
  // hmac
  const header = req.headers.get("authorization") ?? "";
  const fields = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const apiKey = fields.api_key;
  const signature = fields.signature;
  const date = req.headers.get("date");
  const digest = req.headers.get("digest");
  if (!header.toLowerCase().startsWith("hmac-auth") || !apiKey || !signature || !date || !digest) throw denied("missing hmac-auth headers");
  const when = Date.parse(date);
  if (!Number.isFinite(when) || Math.abs(opts.now - when) > opts.skewSeconds * 1000) throw denied("date outside the allowed clock skew");
  if (!timingSafeEqual(await sha256Digest(await req.body()), digest)) throw denied("digest does not match the body");
  const host = req.headers.get("host") ?? req.url.host;
  const text = `host: ${host}\ndate: ${date}\n${req.method} ${req.url.pathname} HTTP/1.1\ndigest: ${digest}`;
  const app = await catalog.appByKey(apiKey);
  if (!app || !timingSafeEqual(await hmacSignature(app.api_secret, text), signature)) throw denied("bad signature");
  if (consumer && consumer !== app.alias_id) {
    // the header may name another app only when the signer is a tenant (the console acting for its apps)
    if (app.is_tenant !== 1) throw denied("X-Consumer-Username does not match the signing app");
    return consumer;
  }
  return consumer ?? app.alias_id;
}
