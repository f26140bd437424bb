// Webhooks (issue 6): `POST /hooks/{hookId}` starts the hook's published flow from an HTTPS request; `/hooks` is
// the authenticated API that creates, lists, rotates and deletes them. The project's own routes: ordinary HTTP
// statuses with `{code, message}` bodies (ARCHITECTURE decision 6).
//
// An invocation, in order: the hook (404), the body size (413), the signature or bearer token (401), the rate
// limit (429), the body (415/400), the mapping onto the start node's parameters, then the run. A delivery's
// `webhook-id` (or `Idempotency-Key`) names the run object, so a repeated delivery reaches the same run instead of
// starting a second one.
import { Hono } from "hono";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { Codes, isPrivateHost, toWorkflowError, WorkflowError, type ErrorData } from "../../engine/index.ts";
import type { HookReply, RunObject, RunReply } from "../../durable/run-object.ts";
import type { RunRequest } from "../../durable/run-store.ts";
import { timingSafeEqual } from "../auth.ts";
import { admitRun, isOverload, overloaded, retryAfter } from "../admission.ts";
import { planText } from "../chat.ts";
import { cache, catalog, type Ctx } from "../context.ts";
import type { AppEnv } from "../env.ts";
import { json, validationMessage } from "../envelope.ts";
import { newRunId } from "../ids.ts";
import { runObject } from "../owner.ts";
import { relayResponse, type RelayOptions } from "../relay.ts";
import {
  activeSecrets,
  bearerDigest,
  CreateHook,
  HookStore,
  newBearerToken,
  newHookId,
  newSecret,
  publicHook,
  RotateHook,
  sha256Hex,
  type HookRow,
} from "../store/hooks.ts";
import { incomingTrace, prepareRun } from "./chat.ts";
import { storeFile } from "./files.ts";

export const hooks = new Hono<AppEnv>();

const HOOK_ROW_TTL_S = 60;
const CALLBACK_MAX_ATTEMPTS = 8;
const CALLBACK_BASE_DELAY_MS = 5_000;

function problem(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return json({ code, message }, status, headers);
}

function store(c: Ctx): HookStore {
  return new HookStore(c.env.DB);
}

const rowKey = (hookId: string): string => `hooks:row:${hookId}`;

/** The hook, through the row cache (rotation and deletion invalidate it). */
async function loadHook(c: Ctx, hookId: string): Promise<HookRow | undefined> {
  const rows = cache(c);
  const hit = await rows.get<HookRow>(rowKey(hookId));
  if (hit) return hit;
  const row = await store(c).get(hookId);
  if (row) c.executionCtx.waitUntil(rows.set(rowKey(hookId), row, HOOK_ROW_TTL_S));
  return row;
}

// ---- management (authenticated, scoped to the caller's app) ---------------------------------------------------------

function caller(c: Ctx): string | Response {
  const app = c.get("appId");
  return app ? app : problem(401, Codes.PARAM_ERROR, "X-Consumer-Username is required");
}

async function readJson(c: Ctx): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WorkflowError(Codes.PARAM_ERROR, "Parameter: body, Input: null, Error: JSON decode error (json_invalid)");
  }
}

async function ownHook(c: Ctx, app: string): Promise<HookRow | Response> {
  const row = await store(c).get(c.req.param("id") ?? "");
  if (!row || row.app_id !== app)
    return problem(404, Codes.HOOK_NOT_FOUND_ERROR, `webhook ${c.req.param("id") ?? ""} not found`);
  return row;
}

hooks.post("/hooks", async (c) => {
  const app = caller(c);
  if (app instanceof Response) return app;
  const raw = await readJson(c);
  const parsed = CreateHook.safeParse(raw);
  if (!parsed.success) return problem(400, Codes.PARAM_ERROR, validationMessage("body", parsed.error, raw));
  const b = parsed.data;
  // every delivery goes through the guarded fetch, which refuses a private target; saying so now spares the creator
  // a hook whose callbacks can never arrive
  if (b.callback_url && c.env.ALLOW_PRIVATE_FETCH !== "true" && isPrivateHost(new URL(b.callback_url).hostname)) {
    return problem(400, Codes.PARAM_ERROR, "callback_url: refused to call a private address");
  }
  // the flow must exist and the caller must hold its licence (the same checks an open run makes)
  const cat = catalog(c);
  try {
    const flow = await cat.requireFlow(b.flow_id);
    await cat.checkLicence(app, flow.group_id);
  } catch (e) {
    const error = toWorkflowError(e, Codes.FLOW_GET_ERROR);
    return problem(error.code === Codes.FLOW_NOT_FOUND_ERROR ? 404 : 403, error.code, error.message);
  }
  const now = Date.now();
  const secret = b.auth === "signature" ? newSecret() : null;
  const token = b.auth === "bearer" ? newBearerToken() : null;
  const callbackSecret = b.callback_url ? newSecret() : null;
  const row: HookRow = {
    hook_id: newHookId(),
    app_id: app,
    flow_id: b.flow_id,
    version: b.version,
    mode: b.mode,
    auth: b.auth,
    secrets: secret ? [{ secret, created_at: now, expires_at: null }] : [],
    token_hash: token ? await sha256Hex(token) : null,
    mapping: b.mapping,
    callback_url: b.callback_url,
    callback_secret: callbackSecret,
    sync_timeout_ms: b.sync_timeout_ms,
    rate_per_minute: b.rate_per_minute,
    max_body_bytes: b.max_body_bytes,
    created_at: now,
    updated_at: now,
  };
  await store(c).insert(row);
  // the only answer that shows the secrets: store them now
  return json(
    {
      ...publicHook(row, new URL(c.req.url).origin),
      ...(secret ? { secret } : {}),
      ...(token ? { token } : {}),
      ...(callbackSecret ? { callback_secret: callbackSecret } : {}),
    },
    201,
  );
});

hooks.get("/hooks", async (c) => {
  const app = caller(c);
  if (app instanceof Response) return app;
  const rows = await store(c).list(app, c.req.query("flow_id"));
  const origin = new URL(c.req.url).origin;
  return json({ hooks: rows.map((r) => publicHook(r, origin)) });
});

hooks.get("/hooks/:id", async (c) => {
  const app = caller(c);
  if (app instanceof Response) return app;
  const row = await ownHook(c, app);
  if (row instanceof Response) return row;
  return json(publicHook(row, new URL(c.req.url).origin));
});

/**
 * A new secret (signature hooks) or token (bearer hooks). The previous secret keeps verifying for
 * `keep_previous_seconds` so senders can switch over; a bearer token is replaced at once.
 */
hooks.post("/hooks/:id/rotate", async (c) => {
  const app = caller(c);
  if (app instanceof Response) return app;
  const row = await ownHook(c, app);
  if (row instanceof Response) return row;
  const raw = await readJson(c);
  const parsed = RotateHook.safeParse(raw);
  if (!parsed.success) return problem(400, Codes.PARAM_ERROR, validationMessage("body", parsed.error, raw));
  const now = Date.now();
  const until = now + parsed.data.keep_previous_seconds * 1000;
  let answer: Record<string, string>;
  if (row.auth === "signature") {
    const secret = newSecret();
    // every previous secret verifies until `until` at the latest (0 drops them all at once)
    const kept = row.secrets
      .map((s) => ({ ...s, expires_at: s.expires_at === null ? until : Math.min(s.expires_at, until) }))
      .filter((s) => s.expires_at > now);
    await store(c).updateSecrets(row.hook_id, [...kept, { secret, created_at: now, expires_at: null }], null, now);
    answer = { secret };
  } else {
    const token = newBearerToken();
    await store(c).updateSecrets(row.hook_id, [], await sha256Hex(token), now);
    answer = { token };
  }
  await cache(c).del([rowKey(row.hook_id)]);
  const fresh = (await store(c).get(row.hook_id)) as HookRow;
  return json({ ...publicHook(fresh, new URL(c.req.url).origin), ...answer });
});

hooks.delete("/hooks/:id", async (c) => {
  const app = caller(c);
  if (app instanceof Response) return app;
  const row = await ownHook(c, app);
  if (row instanceof Response) return row;
  await store(c).delete(row.hook_id);
  await cache(c).del([rowKey(row.hook_id)]);
  return json({ hook_id: row.hook_id, deleted: true });
});

// ---- invocation (the hook's own authentication) ---------------------------------------------------------------------

/** Reads at most `max` bytes; undefined when the body is larger (the rest is never read). */
async function readCapped(req: Request, max: number): Promise<Uint8Array | undefined> {
  if (!req.body) return new Uint8Array();
  // a declared length within the limit (checked by the caller) is the body's exact length: HTTP framing ends the
  // body there. Read in one native call; only a body without one (chunked) is counted as it arrives
  if (req.headers.has("content-length") && !req.headers.has("transfer-encoding")) {
    const whole = new Uint8Array(await req.arrayBuffer());
    return whole.byteLength > max ? undefined : whole;
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    out.set(ch, at);
    at += ch.byteLength;
  }
  return out;
}

type Verdict = { ok: true; key: string | null } | { ok: false; response: Response };

async function verify(row: HookRow, req: Request, text: string): Promise<Verdict> {
  const unauthorized = (why: string): Verdict => ({
    ok: false,
    response: problem(401, Codes.HOOK_AUTH_ERROR, why, {
      "WWW-Authenticate": row.auth === "bearer" ? "Bearer" : "Standard-Webhooks",
    }),
  });
  if (row.auth === "bearer") {
    const header = req.headers.get("authorization") ?? "";
    const token = header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : "";
    if (!token || !row.token_hash || !timingSafeEqual(await bearerDigest(token), row.token_hash))
      return unauthorized("missing or wrong bearer token");
    return { ok: true, key: req.headers.get("idempotency-key") };
  }
  const headers = {
    "webhook-id": req.headers.get("webhook-id") ?? "",
    "webhook-timestamp": req.headers.get("webhook-timestamp") ?? "",
    "webhook-signature": req.headers.get("webhook-signature") ?? "",
  };
  if (!headers["webhook-id"] || !headers["webhook-timestamp"] || !headers["webhook-signature"]) {
    return unauthorized("webhook-id, webhook-timestamp and webhook-signature are required");
  }
  let reason = "no matching signature";
  // several secrets are active while one is rotated out; each check is constant-time (the package's comparison)
  for (const secret of activeSecrets(row, Date.now())) {
    try {
      new Webhook(secret).verify(text, headers, { jsonParse: false });
      return { ok: true, key: headers["webhook-id"] };
    } catch (e) {
      if (!(e instanceof WebhookVerificationError)) throw e;
      // the timestamp checks do not depend on the secret: outside the replay window no secret can match
      if (/timestamp|Invalid Signature Headers/i.test(e.message))
        return unauthorized(`${e.message} (replay window 5 minutes)`);
      reason = e.message;
    }
  }
  return unauthorized(reason);
}

interface Incoming {
  body: unknown;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
}

function multiMap(entries: Iterable<[string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of entries) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** The request's body as a value: JSON, a form (fields, repeated keys as lists) or multipart (files → R2 URLs). */
async function parseBody(c: Ctx, bytes: Uint8Array, text: string, owner: string): Promise<unknown> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (bytes.byteLength === 0) return {};
  if (type === "" || type === "application/json" || type.endsWith("+json")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new WorkflowError(Codes.HOOK_PAYLOAD_ERROR, "the body is not valid JSON");
    }
  }
  if (type === "application/x-www-form-urlencoded") return multiMap(new URLSearchParams(text));
  if (type === "multipart/form-data") {
    let form: FormData;
    try {
      form = await new Response(bytes, { headers: { "Content-Type": c.req.header("content-type") ?? "" } }).formData();
    } catch {
      throw new WorkflowError(Codes.HOOK_PAYLOAD_ERROR, "the multipart body could not be read");
    }
    const out: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      const item: unknown = typeof value === "string" ? value : await storeFile(c, value, owner);
      const prev = out[name];
      out[name] = prev === undefined ? item : Array.isArray(prev) ? [...(prev as unknown[]), item] : [prev, item];
    }
    return out;
  }
  throw new WorkflowError(Codes.HOOK_PAYLOAD_ERROR, `unsupported content type ${type}: send JSON, a form or multipart`);
}

/** Follows a mapping path (`body.a.b`, `query.q`, `headers.x-id`, array indexes as keys). */
export function pick(incoming: Incoming, path: string): unknown {
  const [root, ...keys] = path.split(".");
  let v: unknown =
    root === "body"
      ? incoming.body
      : root === "query"
        ? incoming.query
        : root === "headers"
          ? incoming.headers
          : undefined;
  for (const k of keys) {
    if (Array.isArray(v) && /^\d+$/.test(k)) v = v[Number(k)];
    else if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, k))
      v = (v as Record<string, unknown>)[k];
    else return undefined;
  }
  return v;
}

/** The start node's parameters: the declared mapping, or (without one) the body's own top-level fields. */
export function mapParameters(mapping: Record<string, string>, incoming: Incoming): Record<string, unknown> {
  if (Object.keys(mapping).length === 0) {
    const b = incoming.body;
    if (b === null || typeof b !== "object" || Array.isArray(b)) {
      throw new WorkflowError(
        Codes.HOOK_PAYLOAD_ERROR,
        "without a mapping the body must be an object whose fields are the start node's parameters",
      );
    }
    return { ...(b as Record<string, unknown>) };
  }
  const out: Record<string, unknown> = {};
  for (const [param, path] of Object.entries(mapping)) {
    const v = pick(incoming, path);
    if (v !== undefined) out[param] = v;
  }
  return out;
}

/** A delivery's run id: derived from the hook and the idempotency key, so the same key always names the same run. */
async function runIdFor(hookId: string, key: string | null): Promise<string> {
  if (!key) return newRunId();
  // 128 bits of a digest over the hook's random id: unguessable without the hook id (issue 13)
  return `wh${(await sha256Hex(`${hookId}\n${key}`)).slice(0, 32)}`;
}

function runLinks(c: Ctx, runId: string): { status_url: string; events_url: string } {
  const origin = new URL(c.req.url).origin;
  return { status_url: `${origin}/runs/${runId}`, events_url: `${origin}/runs/${runId}/events` };
}

function runAnswer(c: Ctx, runId: string, reply: HookReply): Response {
  const headers = { "X-Run-Id": runId, ...(reply.created ? {} : { "Idempotent-Replayed": "true" }) };
  if (reply.status === "completed")
    return json(
      { code: 0, message: "success", run_id: runId, status: "completed", outputs: reply.outputs ?? {} },
      200,
      headers,
    );
  if (reply.status === "failed" || reply.status === "cancelled") {
    const error: ErrorData = reply.error ?? { code: Codes.ENG_RUN_ERROR, message: "run failed" };
    // the delivery itself succeeded (a sender must not retry it): 200, with the run's error code
    return json({ code: error.code, message: error.message, run_id: runId, status: reply.status }, 200, headers);
  }
  const links = runLinks(c, runId);
  return json({ code: 0, message: "accepted", run_id: runId, status: reply.status, ...links }, 202, {
    ...headers,
    Location: links.status_url,
  });
}

hooks.post("/hooks/:id", async (c) => {
  const hookId = c.req.param("id");
  const row = await loadHook(c, hookId);
  if (!row) return problem(404, Codes.HOOK_NOT_FOUND_ERROR, `webhook ${hookId} not found`);
  const declared = Number(c.req.header("content-length") ?? "0");
  const tooLarge = (): Response =>
    problem(
      413,
      Codes.HOOK_PAYLOAD_TOO_LARGE_ERROR,
      `the body exceeds this hook's limit of ${row.max_body_bytes} bytes`,
    );
  if (declared > row.max_body_bytes) return tooLarge();
  const bytes = await readCapped(c.req.raw, row.max_body_bytes);
  if (!bytes) return tooLarge();
  // Standard Webhooks sign the body as text; a body that is not UTF-8 cannot carry a matching signature
  const text = new TextDecoder().decode(bytes);
  const verdict = await verify(row, c.req.raw, text);
  if (!verdict.ok) return verdict.response;
  if (row.rate_per_minute > 0) {
    const limiter = c.env.HOOK_LIMITER.get(c.env.HOOK_LIMITER.idFromName(row.hook_id));
    const admission = await limiter.admit(row.rate_per_minute);
    if (!admission.ok) {
      return problem(429, Codes.HOOK_RATE_LIMITED_ERROR, `more than ${row.rate_per_minute} requests a minute`, {
        "Retry-After": String(admission.retryAfterS),
      });
    }
  }
  const sid = c.get("sid");
  try {
    const req = c.req.raw;
    let query: Incoming["query"] | undefined;
    let headers: Incoming["headers"] | undefined;
    // the query and the headers become objects only when the mapping reads them
    const incoming: Incoming = {
      body: await parseBody(c, bytes, text, row.app_id),
      get query() {
        return (query ??= multiMap(new URL(req.url).searchParams));
      },
      get headers() {
        return (headers ??= Object.fromEntries(req.headers));
      },
    };
    const parameters = mapParameters(row.mapping, incoming);
    const runId = await runIdFor(row.hook_id, verdict.key);
    const stub = runObject(c.env.RUN, runId);
    if (verdict.key && row.mode !== "stream") {
      // a repeated delivery: the same run, never a second one (and no flow lookup)
      const existing = (await stub.follow(row.mode === "sync" ? row.sync_timeout_ms : 0)) as HookReply | null;
      if (existing) return runAnswer(c, runId, existing);
    } else if (verdict.key && (await stub.summary(row.app_id))) {
      return await replayStream(c, runId, stub, row.app_id);
    }
    const prepared = await prepareRun(c, row.flow_id, row.app_id, row.version, "open", parameters);
    const request: RunRequest = {
      eventId: runId,
      sid,
      flowId: row.flow_id,
      appId: row.app_id,
      uid: "",
      chatId: "",
      mode: "open",
      stream: row.mode === "stream",
      parameters,
      history: [],
      deadlineMs: Number(c.env.RUN_DEADLINE_MS ?? 30 * 60_000),
      config: prepared.config,
      hookId: row.hook_id,
      ...(row.version ? { flowVersion: row.version } : {}),
      ...incomingTrace(c),
      ...(row.callback_url && row.callback_secret
        ? {
            callback: {
              url: row.callback_url,
              secret: row.callback_secret,
              hookId: row.hook_id,
              maxAttempts: Number(c.env.HOOK_CALLBACK_MAX_ATTEMPTS ?? CALLBACK_MAX_ATTEMPTS),
              baseDelayMs: Number(c.env.HOOK_CALLBACK_BASE_DELAY_MS ?? CALLBACK_BASE_DELAY_MS),
            },
          }
        : {}),
    };
    // issue 15: a run the isolate has no room for is refused before its object exists (503, Retry-After)
    const release = admitRun(c.env, runId);
    if (!release) throw overloaded();
    try {
      if (row.mode === "stream") {
        const reply = (await stub.start({ request, plan: planText(prepared.plan) })) as RunReply;
        // two identical deliveries at once: the second one follows the first one's run
        if (!reply.ok) return await replayStream(c, runId, stub, row.app_id);
        return relayResponse(reply.stream, streamRelay(c), { "X-Run-Id": runId });
      }
      const reply = (await stub.startHook(
        { request, plan: planText(prepared.plan) },
        row.mode === "sync" ? row.sync_timeout_ms : 0,
      )) as HookReply;
      return runAnswer(c, runId, reply);
    } finally {
      release(); // the object holds the run's place from here (src/durable/in-flight.ts)
    }
  } catch (e) {
    if (isOverload(e)) {
      if (!(e instanceof WorkflowError)) console.log(`[hook ${hookId}] run object failed: ${String(e)}`);
      return problem(503, Codes.RUN_OVERLOADED_ERROR, overloaded().message, retryAfter());
    }
    const error = toWorkflowError(e, Codes.OPEN_API_ERROR);
    if (error.code === Codes.HOOK_PAYLOAD_ERROR) return problem(415, error.code, error.message);
    // the flow cannot run as configured (unpublished, licence withdrawn, bad file parameter, …)
    return problem(
      error.code === Codes.PARAM_ERROR ||
        error.code === Codes.FILE_INVALID_ERROR ||
        error.code === Codes.FILE_INVALID_TYPE_ERROR
        ? 400
        : 422,
      error.code,
      error.message,
    );
  }
});

/** A stream hook answers as the open API does, streamed. */
function streamRelay(c: Ctx): RelayOptions {
  return { mode: "open", stream: true, sid: c.get("sid"), frameTimeoutMs: Number(c.env.FRAME_TIMEOUT_MS ?? 120_000) };
}

/** A stream hook's repeated delivery: the same run's frames from the first one. */
async function replayStream(c: Ctx, runId: string, stub: DurableObjectStub<RunObject>, app: string): Promise<Response> {
  const reply = (await stub.attach(0, app)) as RunReply;
  if (!reply.ok) return problem(404, reply.error.code, reply.error.message);
  return relayResponse(reply.stream, streamRelay(c), { "X-Run-Id": runId, "Idempotent-Replayed": "true" });
}
