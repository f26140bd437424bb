// The Hono app: every route of spec §1.1 under its prefixes, with and without a trailing slash (strict: false),
// CORS for every origin, the caller's identity (auth.ts), and errors as Astron envelopes — never HTML, never a
// stack trace.
import { Hono } from "hono";
import { Codes, toWorkflowError, WorkflowError } from "../engine/index.ts";
import { authenticate, authMode } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { errorResponse, failure } from "./envelope.ts";
import { newSid } from "./ids.ts";
import { chat } from "./routes/chat.ts";
import { files } from "./routes/files.ts";
import { node } from "./routes/node.ts";
import { protocol } from "./routes/protocol.ts";
import { publish } from "./routes/publish.ts";
import { runs } from "./routes/runs.ts";
import { Catalog } from "./store/catalog.ts";

export const app = new Hono<AppEnv>({ strict: false });

// spec §1.1: CORS, every origin, method and header, credentials allowed
app.use("*", async (c, next) => {
  const origin = c.req.header("origin") ?? "*";
  const cors: Record<string, string> = {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS,HEAD",
    "Access-Control-Allow-Headers": c.req.header("access-control-request-headers") ?? "*",
    "Access-Control-Max-Age": "86400",
    Vary: "Origin",
  };
  if (c.req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
  await next();
  for (const [k, v] of Object.entries(cors)) c.res.headers.set(k, v);
});

app.use("*", async (c, next) => {
  c.set("sid", newSid());
  await next();
});

app.get("/health", (c) => c.json({ ok: true }));

// Authentication for the Astron routes (files are public: nodes download them by URL, spec §8.2)
app.use("*", async (c, next) => {
  const path = new URL(c.req.url).pathname;
  if (path === "/health" || /^\/workflow\/v1\/files\//.test(path)) return next();
  try {
    let buffered: ArrayBuffer | undefined;
    const id = await authenticate(
      authMode(c.env.AUTH_MODE),
      {
        method: c.req.method,
        url: new URL(c.req.url),
        headers: c.req.raw.headers,
        body: async () => (buffered ??= await c.req.raw.clone().arrayBuffer()),
      },
      new Catalog(c.env.DB),
      { skewSeconds: Number(c.env.HMAC_SKEW_SECONDS ?? 300), now: Date.now() },
    );
    if (id) c.set("appId", id);
  } catch (e) {
    return errorResponse(c.get("sid"), toWorkflowError(e, Codes.PARAM_ERROR));
  }
  return next();
});

for (const prefix of ["/workflow/v1", "/sparkflow/v1"]) {
  app.route(prefix, protocol);
  app.route(prefix, node);
}
app.route("/workflow/v1", chat);
app.route("/workflow/v1", files);
app.route("/v1", publish);
app.route("/", runs);

app.notFound((c) => failure(c.get("sid") ?? "", 404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`));

app.onError((err, c) => {
  const e = err instanceof WorkflowError ? err : toWorkflowError(err, Codes.OPEN_API_ERROR);
  if (!(err instanceof WorkflowError)) console.log(`[${c.get("sid")}] unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  return errorResponse(c.get("sid") ?? "", e);
});
