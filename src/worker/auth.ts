// Authentication (spec §1.4 [new]), chosen per deployment by the AUTH_MODE var:
//  - gateway (default): trust X-Consumer-Username, as the original does (a verifying gateway sits in front, or the
//    deployment is private);
//  - key: every request carries `Authorization: <key>:<secret>` or `Authorization: Bearer <key>:<secret>` of an app;
//    X-Consumer-Username, when sent, must name that app;
//  - hmac: the iFlytek gateway HMAC headers (host, date, request-line, digest; clock-skew window HMAC_SKEW_SECONDS,
//    default 300 s), or key:secret as in `key` mode — the console signs publish/auth/upload with HMAC but sends
//    key:secret on chat/resume (spec §1.2), so a deployment that serves it needs both.
//    The console's scheme signs neither X-Consumer-Username nor anything unique, so a captured tenant-signed request
//    can be replayed within the window, or with another app in the header. HMAC_STRICT=true (recommended whenever the
//    signer can be changed) closes both: the signature must also cover `digest`, `x-nonce` (16–128 characters of
//    [A-Za-z0-9._:-], accepted once per key within the window) and, when sent, `x-consumer-username`.
// In key and hmac mode every route but the health check and the public file URLs needs credentials — including the
// flow-record routes (protocol/*, node/debug), on which the original console sends none: a deployment serving an
// unmodified console keeps those behind its gateway (gateway mode) or gives the console credentials to send.
// A failure is a WorkflowError 460 ("Authentication failed: …") that the app turns into the normal envelope, never an
// HTML 401. Secrets are compared in constant time.
import { Codes, WorkflowError } from "../engine/index.ts";
import type { AppRow } from "./store/catalog.ts";
import { base64 } from "./bytes.ts";

export type AuthMode = "gateway" | "key" | "hmac";

export function authMode(value: string | undefined): AuthMode {
  return value === "key" || value === "hmac" ? value : "gateway";
}

/** The app lookups authentication needs (the D1 catalog implements them). */
export interface AppLookup {
  app(alias: string): Promise<AppRow | undefined>;
  appByKey(apiKey: string): Promise<AppRow | undefined>;
}

export interface AuthRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** the raw body, read only when a digest must be checked */
  body: () => Promise<ArrayBuffer>;
}

export interface AuthOptions {
  skewSeconds: number;
  /** ms since the Unix epoch */
  now: number;
  /** strict HMAC: identity header and nonce signed, replays refused (needs `nonces`) */
  strict?: boolean;
  nonces?: NonceStore;
}

/** Remembers used nonces until they expire (the D1 catalog implements it: one row per nonce). */
export interface NonceStore {
  /** true when the nonce was unused (and is now taken until `expiresAt`), false for a replay */
  claimNonce(key: string, expiresAt: number, now: number): Promise<boolean>;
}

const NONCE = /^[A-Za-z0-9._:-]{16,128}$/;

const encoder = new TextEncoder();

/** Constant-time comparison (the length difference is folded in, not short-circuited). */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** base64(HMAC-SHA256(secret, text)), the gateway signature. */
export async function hmacSignature(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return base64(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
}

/** `SHA256=<base64(sha256(body))>`, the gateway digest header. */
export async function sha256Digest(body: ArrayBuffer | string): Promise<string> {
  const data = typeof body === "string" ? encoder.encode(body) : body;
  return `SHA256=${base64(await crypto.subtle.digest("SHA-256", data))}`;
}

function denied(detail: string): WorkflowError {
  return new WorkflowError(Codes.PARAM_ERROR, `Authentication failed: ${detail}`);
}

/**
 * Verifies the caller and returns the app id (alias) the request acts for, or undefined when the request names none
 * (gateway mode without the header; the routes that need one answer 460 themselves).
 */
export async function authenticate(
  mode: AuthMode,
  req: AuthRequest,
  apps: AppLookup,
  opts: AuthOptions,
): Promise<string | undefined> {
  const consumer = req.headers.get("x-consumer-username") || undefined;
  if (mode === "gateway") return consumer;
  const authorization = req.headers.get("authorization") ?? "";
  if (mode === "hmac" && /^hmac-auth\s/i.test(authorization))
    return verifyHmac(req, authorization, consumer, apps, opts);
  return verifyKeySecret(authorization, consumer, apps);
}

/** `<key>:<secret>` or `Bearer <key>:<secret>` against the app named by the header, else the app owning the key. */
async function verifyKeySecret(authorization: string, consumer: string | undefined, apps: AppLookup): Promise<string> {
  const credentials = authorization.replace(/^Bearer\s+/i, "").trim();
  const sep = credentials.indexOf(":");
  if (!credentials || sep <= 0) throw denied("Authorization must be <api_key>:<api_secret>");
  const key = credentials.slice(0, sep);
  const secret = credentials.slice(sep + 1);
  const app = consumer ? await apps.app(consumer) : await apps.appByKey(key);
  // compare both even when the app is unknown, so timing does not tell which part was wrong
  const keyOk = timingSafeEqual(key, app?.api_key ?? "");
  const secretOk = timingSafeEqual(secret, app?.api_secret ?? "");
  if (!app || !app.api_key || !keyOk || !secretOk) throw denied("unknown app or wrong api key / secret");
  return app.alias_id;
}

async function verifyHmac(
  req: AuthRequest,
  authorization: string,
  consumer: string | undefined,
  apps: AppLookup,
  opts: AuthOptions,
): Promise<string> {
  const fields: Record<string, string> = {};
  for (const m of authorization.matchAll(/([A-Za-z_]+)\s*=\s*"([^"]*)"/g))
    fields[(m[1] ?? "").toLowerCase()] = m[2] ?? "";
  const apiKey = fields.api_key;
  const signature = fields.signature;
  if (!apiKey || !signature) throw denied("hmac-auth needs api_key and signature");
  if ((fields.algorithm ?? "hmac-sha256").toLowerCase() !== "hmac-sha256")
    throw denied("only hmac-sha256 is supported");
  const signed = (fields.headers ?? "host date request-line digest").toLowerCase().split(/\s+/).filter(Boolean);
  // the date bounds replays and the request line binds the signature to this route; both must be signed
  if (!signed.includes("date") || !signed.includes("request-line"))
    throw denied("the signature must cover date and request-line");

  const date = req.headers.get("date") ?? "";
  const when = Date.parse(date);
  if (!Number.isFinite(when) || Math.abs(opts.now - when) > opts.skewSeconds * 1000)
    throw denied("date outside the allowed clock skew");

  if (opts.strict) {
    // strict mode (issue 13): the identity header and a nonce are part of what is signed, and so is the digest of
    // every request (an empty body has a digest too)
    for (const name of ["digest", "x-nonce", ...(consumer ? ["x-consumer-username"] : [])])
      if (!signed.includes(name)) throw denied(`strict mode: the signature must cover ${name}`);
    if (!NONCE.test(req.headers.get("x-nonce") ?? ""))
      throw denied("strict mode: x-nonce must be 16-128 characters of [A-Za-z0-9._:-]");
  }

  const body = await req.body();
  if (body.byteLength > 0 && !signed.includes("digest")) throw denied("a request with a body must sign its digest");
  if (signed.includes("digest")) {
    const digest = req.headers.get("digest") ?? "";
    if (!timingSafeEqual(await sha256Digest(body), digest)) throw denied("digest does not match the body");
  }

  const lines = signed.map((name) => {
    if (name === "request-line") return `${req.method} ${req.url.pathname}${req.url.search} HTTP/1.1`;
    if (name === "host") return `host: ${req.headers.get("host") ?? req.url.host}`;
    return `${name}: ${req.headers.get(name) ?? ""}`;
  });
  const app = await apps.appByKey(apiKey);
  // sign even for an unknown key (WebCrypto refuses an empty HMAC key, hence the placeholder), so timing does not
  // tell a known key from an unknown one
  const expected = await hmacSignature(app?.api_secret || "\u0000unknown", lines.join("\n"));
  if (!app || !app.api_secret || !timingSafeEqual(expected, signature)) throw denied("bad signature");
  if (opts.strict) {
    // taken only after the signature checked out, so nobody can burn another signer's nonces; kept for twice the skew
    // (a date up to `skew` ahead of the clock stays valid that long)
    if (!opts.nonces) throw denied("strict mode needs a nonce store");
    const claimed = await opts.nonces.claimNonce(
      `${apiKey}\n${req.headers.get("x-nonce")}`,
      opts.now + 2 * opts.skewSeconds * 1000,
      opts.now,
    );
    if (!claimed) throw denied("replayed request (x-nonce already used)");
  }

  if (consumer && consumer !== app.alias_id) {
    // a tenant app (the console) signs for the apps it manages and names them in X-Consumer-Username (spec §1.4)
    if (app.is_tenant !== 1) throw denied("X-Consumer-Username does not match the signing app");
    return consumer;
  }
  return app.alias_id;
}
