// The Hono app: every route of spec §1.1 under its prefixes, with and without a trailing slash (strict: false, no
// redirect), CORS for every origin, the caller's identity (auth.ts), and errors as Astron envelopes — never HTML,
// never a stack trace.
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { Codes, WorkflowError } from "../engine/index.ts";
import type { AppEnv } from "./env.ts";
import { errorResponse, failure } from "./envelope.ts";
import { newSid } from "./ids.ts";
import { authentication } from "./middleware/auth.ts";
import { cors } from "./middleware/cors.ts";
import { openApiDocument } from "./openapi/document.ts";
import { chat } from "./routes/chat.ts";
import { files } from "./routes/files.ts";
import { flows } from "./routes/flows.ts";
import { hooks } from "./routes/hooks.ts";
import { node } from "./routes/node.ts";
import { protocol } from "./routes/protocol.ts";
import { publish } from "./routes/publish.ts";
import { runs } from "./routes/runs.ts";

export const app = new Hono<AppEnv>({ strict: false });

app.use("*", cors);

app.use("*", async (c, next) => {
  c.set("sid", newSid());
  await next();
});

app.get("/health", (c) => c.json({ ok: true }));
// issue 14: the API's description and a browsable reference of it, public like /health
app.get("/openapi.json", (c) => c.json(openApiDocument()));
app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Astron workflows at the edge" }));

app.use("*", authentication);

for (const prefix of ["/workflow/v1", "/sparkflow/v1"]) {
  app.route(prefix, protocol);
  app.route(prefix, node);
}
app.route("/workflow/v1", chat);
app.route("/workflow/v1", files);
// spec §1.1 #18/#19: at the root; the accidental /workflow/v1/v1/* copies are dropped (§11.15)
app.route("/v1", publish);
app.route("/", runs);
app.route("/", flows);
app.route("/", hooks);

// A framework-level miss keeps its HTTP status (spec §1.1 notes) but still answers JSON.
app.notFound((c) => failure(c.get("sid") ?? "", 404, `Not Found: ${c.req.method} ${new URL(c.req.url).pathname}`, 404));

/**
 * The generic code of each route (spec §1.5, §1.6), for failures that are not already a WorkflowError
 * (a D1 outage, a bug): the client sees the code the original would have reported, never a stack trace.
 */
const GENERIC_CODES: readonly [RegExp, number][] = [
  [/\/protocol\/add\/?$/, Codes.PROTOCOL_CREATE_ERROR],
  [/\/protocol\/get\/?$/, Codes.FLOW_GET_ERROR],
  [/\/protocol\/update\//, Codes.PROTOCOL_UPDATE_ERROR],
  [/\/protocol\/delete\/?$/, Codes.PROTOCOL_DELETE_ERROR],
  [/\/protocol\/build\//, Codes.PROTOCOL_BUILD_ERROR],
  [/\/protocol\/?compare\/save\/?$/, Codes.PROTOCOL_CREATE_ERROR],
  [/\/protocol\/compare\/delete\/?$/, Codes.PROTOCOL_DELETE_ERROR],
  [/\/get_flow_info\//, Codes.FLOW_GET_ERROR],
  [/\/node\/debug\/?$/, Codes.NODE_DEBUG_ERROR],
  [/\/(code\/)?run\/?$/, Codes.CODE_EXECUTION_ERROR],
  [/\/upload_files?\/?$/, Codes.FILE_STORAGE_ERROR],
  [/^\/v1\/publish\/?$/, Codes.FLOW_PUBLISH_ERROR],
  [/^\/v1\/auth\/?$/, Codes.APP_FLOW_AUTH_BOND_ERROR],
];

export function genericCode(path: string): number {
  for (const [pattern, code] of GENERIC_CODES) if (pattern.test(path)) return code;
  return Codes.OPEN_API_ERROR;
}

app.onError((err, c) => {
  const path = new URL(c.req.url).pathname;
  // an exception that is not a WorkflowError is internal (storage, bindings, a bug): its text goes to the log only
  const e = err instanceof WorkflowError ? err : WorkflowError.of(genericCode(path));
  if (!(err instanceof WorkflowError))
    console.log(`[${c.get("sid")}] unexpected error on ${path}: ${err instanceof Error ? err.message : String(err)}`);
  return errorResponse(c.get("sid") ?? "", e);
});
