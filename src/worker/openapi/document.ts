// The OpenAPI 3.1 document of every route the worker serves (issue 14), served at GET /openapi.json. Request bodies
// are the zod schemas the routes validate with, response bodies the ones in schemas.ts, both turned into JSON Schema
// 2020-12 (OpenAPI 3.1's dialect) by zod itself: one source of truth. test/worker/openapi.test.ts checks that this
// table and the app's routes are the same set; test/node/openapi-responses.test.ts validates the document and real
// answers of every route against it.
import * as z from "zod";
import { CancelBody } from "../routes/chat.ts";
import { CodeRunBody, NodeDebugBody } from "../routes/node.ts";
import { AddBody, CompareDeleteBody, CompareSaveBody, DeleteBody, FlowIdBody, UpdateBody } from "../routes/protocol.ts";
import { AuthBody, PublishBody } from "../routes/publish.ts";
import { ChatBody, ResumeBody } from "../chat.ts";
import { CreateHook, RotateHook } from "../store/hooks.ts";
import * as R from "./schemas.ts";

/** Request bodies, validated by the routes (input side: defaults make fields optional). */
const REQUESTS = {
  AddFlowRequest: AddBody,
  FlowIdRequest: FlowIdBody,
  UpdateFlowRequest: UpdateBody,
  DeleteFlowRequest: DeleteBody,
  CompareSaveRequest: CompareSaveBody,
  CompareDeleteRequest: CompareDeleteBody,
  NodeDebugRequest: NodeDebugBody,
  CodeRunRequest: CodeRunBody,
  ChatRequest: ChatBody,
  ResumeRequest: ResumeBody,
  CancelRequest: CancelBody,
  PublishRequest: PublishBody,
  AuthRequest: AuthBody,
  CreateHookRequest: CreateHook,
  RotateHookRequest: RotateHook,
} as const satisfies Record<string, z.ZodType>;

/** Response bodies (output side). */
const RESPONSES = {
  AstronError: R.AstronError,
  Ok: R.Ok,
  FlowCreated: R.FlowCreated,
  FlowRecord: R.FlowRecord,
  FlowInfo: R.FlowInfo,
  NodeDebugResult: R.NodeDebugResult,
  CodeRunResult: R.CodeRunResult,
  Uploaded: R.Uploaded,
  UploadedMany: R.UploadedMany,
  Cancelled: R.Cancelled,
  ChatFrame: R.ChatFrame,
  ChatParamError: R.ChatParamError,
  BuildEvent: R.BuildEvent,
  Problem: R.Problem,
  RunView: R.RunView,
  RunCancelled: R.RunCancelled,
  RunList: R.RunList,
  FlowList: R.FlowList,
  Hook: R.Hook,
  HookCreated: R.HookCreated,
  HookRotated: R.HookRotated,
  HookList: R.HookList,
  HookDeleted: R.HookDeleted,
  HookResult: R.HookResult,
  HookAccepted: R.HookAccepted,
  Health: R.Health,
  OpenApiDocument: R.OpenApiDocument,
} as const satisfies Record<string, z.ZodType>;

type RequestName = keyof typeof REQUESTS;
type ResponseName = keyof typeof RESPONSES;

interface Answer {
  description: string;
  /** JSON bodies this status may carry (several: anyOf) */
  json?: ResponseName[];
  /** `text/event-stream`: each event's `data` is one JSON value of this schema */
  sse?: ResponseName;
  /** the stored file's bytes */
  binary?: true;
  html?: true;
}

interface Operation {
  method: "get" | "post" | "delete" | "head";
  /** Hono's path (`:param`), relative to each prefix */
  path: string;
  prefixes?: readonly string[];
  id: string;
  tag: string;
  summary: string;
  body?: RequestName | "multipart:file" | "multipart:files" | "hook-delivery";
  query?: { name: string; description: string; schema: Record<string, unknown> }[];
  responses: Record<string, Answer>;
  /** no credentials (the auth middleware's PUBLIC list, or a hook's own signature) */
  public?: true;
}

const ASTRON = ["/workflow/v1", "/sparkflow/v1"] as const;
const ok = (data: ResponseName, description = "success, or the route's error code"): Record<string, Answer> => ({
  "200": { description, json: [data, "AstronError"] },
});
const problems = (statuses: Record<string, string>): Record<string, Answer> =>
  Object.fromEntries(Object.entries(statuses).map(([s, d]) => [s, { description: d, json: ["Problem"] }]));
const chatAnswer: Record<string, Answer> = {
  "200": {
    description:
      "`stream: true`: the frames as server-sent events; otherwise the final frame. An error before the run starts " +
      "is one JSON frame without node, a bad body the chat validation error",
    sse: "ChatFrame",
    json: ["ChatFrame", "ChatParamError", "AstronError"],
  },
  "503": {
    description: "the runtime is at capacity (code 24201): no run was started; retry after `Retry-After` seconds",
    json: ["ChatFrame"],
  },
};
const unauthorized = "X-Consumer-Username missing";

export const OPERATIONS: readonly Operation[] = [
  {
    method: "get",
    path: "/health",
    id: "health",
    tag: "service",
    summary: "Liveness check",
    public: true,
    responses: { "200": { description: "up", json: ["Health"] } },
  },
  {
    method: "get",
    path: "/openapi.json",
    id: "openapi",
    tag: "service",
    summary: "This document",
    public: true,
    responses: { "200": { description: "the OpenAPI 3.1 document", json: ["OpenApiDocument"] } },
  },
  {
    method: "get",
    path: "/docs",
    id: "docs",
    tag: "service",
    summary: "Browsable API reference (Scalar)",
    public: true,
    responses: { "200": { description: "an HTML page", html: true } },
  },
  // flow records (spec §1.5.4–1.5.10)
  {
    method: "post",
    path: "/protocol/add",
    prefixes: ASTRON,
    id: "protocolAdd",
    tag: "flows",
    summary: "Create a flow for the caller's app",
    body: "AddFlowRequest",
    responses: ok("FlowCreated"),
  },
  {
    method: "post",
    path: "/protocol/get",
    prefixes: ASTRON,
    id: "protocolGet",
    tag: "flows",
    summary: "Read a flow record",
    body: "FlowIdRequest",
    responses: ok("FlowRecord"),
  },
  {
    method: "post",
    path: "/protocol/update/:flow_id",
    prefixes: ASTRON,
    id: "protocolUpdate",
    tag: "flows",
    summary: "Update a flow record",
    body: "UpdateFlowRequest",
    responses: ok("Ok"),
  },
  {
    method: "post",
    path: "/protocol/delete",
    prefixes: ASTRON,
    id: "protocolDelete",
    tag: "flows",
    summary: "Delete a flow",
    body: "DeleteFlowRequest",
    responses: ok("Ok"),
  },
  {
    method: "post",
    path: "/protocol/build/:flow_id",
    prefixes: ASTRON,
    id: "protocolBuild",
    tag: "flows",
    summary: "Validate a flow's draft",
    responses: {
      "200": {
        description: 'a `"<code>: <message>"` event on failure, then the end event',
        sse: "BuildEvent",
        json: ["AstronError"],
      },
    },
  },
  {
    method: "post",
    path: "/protocolcompare/save",
    prefixes: ASTRON,
    id: "protocolcompareSave",
    tag: "flows",
    summary: "Save a comparison draft (the original's path)",
    body: "CompareSaveRequest",
    responses: ok("Ok"),
  },
  {
    method: "post",
    path: "/protocol/compare/save",
    prefixes: ASTRON,
    id: "protocolCompareSave",
    tag: "flows",
    summary: "Save a comparison draft",
    body: "CompareSaveRequest",
    responses: ok("Ok"),
  },
  {
    method: "delete",
    path: "/protocol/compare/delete",
    prefixes: ASTRON,
    id: "protocolCompareDelete",
    tag: "flows",
    summary: "Delete a comparison draft",
    body: "CompareDeleteRequest",
    responses: ok("Ok"),
  },
  {
    method: "get",
    path: "/get_flow_info/:flow_id",
    prefixes: ASTRON,
    id: "getFlowInfo",
    tag: "flows",
    summary: "The input schema of a flow's latest published version",
    responses: ok("FlowInfo"),
  },
  // node debug and code (spec §1.5.11, §1.5.12)
  {
    method: "post",
    path: "/node/debug",
    prefixes: ASTRON,
    id: "nodeDebug",
    tag: "nodes",
    summary: "Run one node",
    body: "NodeDebugRequest",
    responses: ok("NodeDebugResult"),
  },
  {
    method: "post",
    path: "/code/run",
    prefixes: ASTRON,
    id: "codeRun",
    tag: "nodes",
    summary: "Run a code snippet",
    body: "CodeRunRequest",
    responses: ok("CodeRunResult"),
  },
  {
    method: "post",
    path: "/run",
    prefixes: ASTRON,
    id: "run",
    tag: "nodes",
    summary: "Run a code snippet (alias of /code/run)",
    body: "CodeRunRequest",
    responses: ok("CodeRunResult"),
  },
  // chat (spec §1.5.1–1.5.3, §6.12)
  {
    method: "post",
    path: "/chat/completions",
    prefixes: ["/workflow/v1"],
    id: "chatCompletions",
    tag: "chat",
    summary: "Run a published flow",
    body: "ChatRequest",
    responses: chatAnswer,
  },
  {
    method: "post",
    path: "/debug/chat/completions",
    prefixes: ["/workflow/v1"],
    id: "debugChatCompletions",
    tag: "chat",
    summary: "Run a flow's draft (or a version) with every node's frames",
    body: "ChatRequest",
    responses: chatAnswer,
  },
  {
    method: "post",
    path: "/resume",
    prefixes: ["/workflow/v1"],
    id: "resume",
    tag: "chat",
    summary: "Answer a paused run",
    body: "ResumeRequest",
    responses: chatAnswer,
  },
  {
    method: "post",
    path: "/debug/resume",
    prefixes: ["/workflow/v1"],
    id: "debugResume",
    tag: "chat",
    summary: "Answer a paused debug run",
    body: "ResumeRequest",
    responses: chatAnswer,
  },
  {
    method: "post",
    path: "/cancel",
    prefixes: ["/workflow/v1"],
    id: "cancel",
    tag: "chat",
    summary: "Cancel one of the caller's runs by event id",
    body: "CancelRequest",
    responses: ok("Cancelled"),
  },
  // files (spec §1.5.13, §8)
  {
    method: "post",
    path: "/upload_file",
    prefixes: ["/workflow/v1"],
    id: "uploadFile",
    tag: "files",
    summary: "Store one file",
    body: "multipart:file",
    responses: ok("Uploaded"),
  },
  {
    method: "post",
    path: "/upload_files",
    prefixes: ["/workflow/v1"],
    id: "uploadFiles",
    tag: "files",
    summary: "Store several files",
    body: "multipart:files",
    responses: ok("UploadedMany"),
  },
  ...(["get", "head"] as const).map((method): Operation => ({
    method,
    path: "/files/:name",
    prefixes: ["/workflow/v1"],
    id: `${method}File`,
    tag: "files",
    summary: "A stored file (its URL is the capability)",
    public: true,
    responses: {
      "200": { description: "the file", binary: true },
      ...problems({ "404": "no such file" }),
    },
  })),
  // publishing (spec §1.5.14, §1.5.15)
  {
    method: "post",
    path: "/publish",
    prefixes: ["/v1"],
    id: "publish",
    tag: "publishing",
    summary: "Publish, take down or version a flow (tenant apps)",
    body: "PublishRequest",
    responses: ok("Ok"),
  },
  {
    method: "post",
    path: "/auth",
    prefixes: ["/v1"],
    id: "auth",
    tag: "publishing",
    summary: "License a flow to an app (tenant apps)",
    body: "AuthRequest",
    responses: ok("Ok"),
  },
  // runs (issue 6)
  {
    method: "get",
    path: "/runs/:id",
    id: "getRun",
    tag: "runs",
    summary: "A run's status, inputs, outputs, error, node timings and usage",
    responses: {
      "200": { description: "the run", json: ["RunView", "AstronError"] },
      ...problems({ "401": unauthorized, "404": "no such run of the caller's" }),
    },
  },
  {
    method: "get",
    path: "/runs/:id/events",
    id: "getRunEvents",
    tag: "runs",
    summary: "The run's frames as server-sent events (`id:` = sequence number; Last-Event-ID replays what follows)",
    query: [{ name: "after", description: "as Last-Event-ID", schema: { type: "integer", minimum: 0 } }],
    responses: {
      "200": { description: "the frames", sse: "ChatFrame", json: ["AstronError"] },
      ...problems({ "400": "bad Last-Event-ID", "401": unauthorized, "404": "no such run of the caller's" }),
    },
  },
  {
    method: "post",
    path: "/runs/:id/cancel",
    id: "cancelRun",
    tag: "runs",
    summary: "Cancel a run",
    responses: {
      "200": { description: "cancelled", json: ["RunCancelled", "AstronError"] },
      "409": { description: "the run had already ended", json: ["RunCancelled"] },
      ...problems({ "401": unauthorized, "404": "no such run of the caller's" }),
    },
  },
  {
    method: "get",
    path: "/flows/:id/runs",
    id: "listFlowRuns",
    tag: "runs",
    summary: "The caller's finished runs of a flow, newest first",
    query: [
      { name: "limit", description: "page size (1–100)", schema: { type: "integer", minimum: 1, maximum: 100 } },
      { name: "before", description: "`startedAt` of the previous page's last run", schema: { type: "integer" } },
      {
        name: "status",
        description: "only runs that ended so",
        schema: { type: "string", enum: ["completed", "failed", "cancelled"] },
      },
    ],
    responses: {
      "200": { description: "a page of runs", json: ["RunList", "AstronError"] },
      ...problems({ "400": "unknown status", "401": unauthorized }),
    },
  },
  {
    method: "get",
    path: "/flows",
    id: "listFlows",
    tag: "flows",
    summary: "The caller's flows: name, published versions and the latest finished run (the console's list)",
    responses: {
      "200": { description: "the flows", json: ["FlowList", "AstronError"] },
      ...problems({ "401": unauthorized }),
    },
  },
  // webhooks (issue 6)
  {
    method: "post",
    path: "/hooks",
    id: "createHook",
    tag: "hooks",
    summary: "Create a webhook on a flow the caller holds a licence for",
    body: "CreateHookRequest",
    responses: {
      "201": { description: "created (the only answer with the secret or token)", json: ["HookCreated"] },
      "200": { description: "authentication failed", json: ["AstronError"] },
      ...problems({
        "400": "bad body",
        "401": unauthorized,
        "403": "no licence for the flow",
        "404": "no such flow",
      }),
    },
  },
  {
    method: "get",
    path: "/hooks",
    id: "listHooks",
    tag: "hooks",
    summary: "The caller's webhooks",
    query: [{ name: "flow_id", description: "only this flow's", schema: { type: "string" } }],
    responses: {
      "200": { description: "the hooks", json: ["HookList", "AstronError"] },
      ...problems({ "401": unauthorized }),
    },
  },
  {
    method: "get",
    path: "/hooks/:id",
    id: "getHook",
    tag: "hooks",
    summary: "One of the caller's webhooks",
    responses: {
      "200": { description: "the hook", json: ["Hook", "AstronError"] },
      ...problems({ "401": unauthorized, "404": "no such hook of the caller's" }),
    },
  },
  {
    method: "post",
    path: "/hooks/:id/rotate",
    id: "rotateHook",
    tag: "hooks",
    summary: "A new secret (the previous ones keep verifying for keep_previous_seconds) or bearer token",
    body: "RotateHookRequest",
    responses: {
      "200": { description: "the hook with its new secret or token", json: ["HookRotated", "AstronError"] },
      ...problems({ "400": "bad body", "401": unauthorized, "404": "no such hook of the caller's" }),
    },
  },
  {
    method: "delete",
    path: "/hooks/:id",
    id: "deleteHook",
    tag: "hooks",
    summary: "Delete a webhook",
    responses: {
      "200": { description: "deleted", json: ["HookDeleted", "AstronError"] },
      ...problems({ "401": unauthorized, "404": "no such hook of the caller's" }),
    },
  },
  {
    method: "post",
    path: "/hooks/:id",
    id: "deliverHook",
    tag: "hooks",
    summary: "Deliver a webhook: starts the hook's flow (Standard Webhooks signature or the hook's bearer token)",
    body: "hook-delivery",
    public: true,
    responses: {
      "200": {
        description: "sync mode: the run ended (a failed run keeps its own code); stream mode: the frames",
        json: ["HookResult"],
        sse: "ChatFrame",
      },
      "202": { description: "async mode, or sync past its timeout", json: ["HookAccepted"] },
      ...problems({
        "400": "bad parameters",
        "401": "signature or token refused",
        "404": "no such hook",
        "413": "body over the hook's limit",
        "415": "unreadable body",
        "422": "the flow cannot run (not published, licence withdrawn)",
        "429": "over the hook's rate (Retry-After)",
        "503": "the runtime is at capacity (code 24201, Retry-After): no run was started",
      }),
    },
  },
];

/** `/runs/:id` → `/runs/{id}` */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
}

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io }) as Record<
    string,
    unknown
  >;
  return rest;
}

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });

function oneOrAny(names: readonly string[]): Record<string, unknown> {
  return names.length === 1 ? ref(names[0] ?? "") : { anyOf: names.map(ref) };
}

function requestBody(body: NonNullable<Operation["body"]>): Record<string, unknown> {
  if (body === "multipart:file" || body === "multipart:files") {
    const field = body.slice("multipart:".length);
    const file = { type: "string", contentMediaType: "application/octet-stream" };
    return {
      required: true,
      content: {
        "multipart/form-data": {
          schema: {
            type: "object",
            properties: { [field]: field === "files" ? { type: "array", items: file } : file },
            required: [field],
          },
        },
      },
    };
  }
  if (body === "hook-delivery")
    return {
      description:
        "mapped onto the start node's parameters by the hook's mapping (without one, the JSON body's own fields)",
      content: {
        "application/json": { schema: {} },
        "application/x-www-form-urlencoded": { schema: { type: "object" } },
        "multipart/form-data": { schema: { type: "object" } },
      },
    };
  return { required: true, content: { "application/json": { schema: ref(body) } } };
}

function answer(a: Answer): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  if (a.sse)
    content["text/event-stream"] = {
      schema: { type: "string", description: `server-sent events; each \`data\` is one JSON ${a.sse}` },
      // OpenAPI 3.1 has no way to type an event stream's items (3.2's itemSchema); the frames' schema goes here
      "x-sse-data": ref(a.sse),
    };
  if (a.json) content["application/json"] = { schema: oneOrAny(a.json) };
  if (a.binary) content["*/*"] = { schema: { type: "string", contentMediaType: "application/octet-stream" } };
  if (a.html) content["text/html"] = { schema: { type: "string" } };
  return Object.keys(content).length ? { description: a.description, content } : { description: a.description };
}

function operationObject(op: Operation, prefix: string): Record<string, unknown> {
  const params = [...op.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const query = (op.query ?? []).map((q) => ({ ...q, in: "query", required: false }));
  const sparkflow = prefix === "/sparkflow/v1";
  return {
    operationId: sparkflow ? `sparkflow_${op.id}` : op.id,
    tags: [op.tag],
    summary: sparkflow ? `${op.summary} (sparkflow prefix)` : op.summary,
    ...(params.length + query.length ? { parameters: [...params, ...query] } : {}),
    ...(op.body ? { requestBody: requestBody(op.body) } : {}),
    responses: Object.fromEntries(Object.entries(op.responses).map(([status, a]) => [status, answer(a)])),
    ...(op.public ? { security: [] } : {}),
  };
}

/** Every (method, OpenAPI path) pair the document describes. */
export function documentedRoutes(): { method: string; path: string }[] {
  return OPERATIONS.flatMap((op) =>
    (op.prefixes ?? [""]).map((prefix) => ({ method: op.method.toUpperCase(), path: openApiPath(prefix + op.path) })),
  );
}

let built: Record<string, unknown> | undefined;

/** The document (built once per isolate: the schemas do not change while it lives). */
export function openApiDocument(): Record<string, unknown> {
  if (built) return built;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS)
    for (const prefix of op.prefixes ?? [""]) {
      const path = openApiPath(prefix + op.path);
      (paths[path] ??= {})[op.method] = operationObject(op, prefix);
    }
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(REQUESTS)) schemas[name] = jsonSchema(schema, "input");
  for (const [name, schema] of Object.entries(RESPONSES)) schemas[name] = jsonSchema(schema, "output");
  built = {
    openapi: "3.1.0",
    info: {
      title: "Astron workflows at the edge",
      version: "1.0.0",
      description:
        "Astron's workflow API (`/workflow/v1`, `/sparkflow/v1`, `/v1`: errors are envelopes with HTTP 200 and the " +
        "code in the body) and the project's runs and webhooks API (HTTP statuses with `{code, message}`). Every " +
        "route but the public ones acts for the app the deployment's AUTH_MODE authenticates.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: ["service", "flows", "nodes", "chat", "files", "publishing", "runs", "hooks"].map((name) => ({ name })),
    security: [{ gateway: [] }, { key: [] }, { hmac: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        gateway: {
          type: "apiKey",
          in: "header",
          name: "X-Consumer-Username",
          description: "AUTH_MODE=gateway: the app's alias, trusted as a verifying gateway set it",
        },
        key: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description: "AUTH_MODE=key: `<api_key>:<api_secret>` (or `Bearer <api_key>:<api_secret>`)",
        },
        hmac: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description:
            "AUTH_MODE=hmac: the iFlytek gateway's `hmac-auth` signature over host, date, request-line, digest",
        },
      },
    },
  };
  return built;
}
