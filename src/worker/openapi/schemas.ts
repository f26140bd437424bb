// The response bodies of every route, as zod schemas (issue 14). The request bodies are the routes' own validating
// schemas (imported by document.ts); these describe what the routes answer, and the OpenAPI document is generated
// from both, so the document cannot drift from what is validated. Objects are strict on purpose: their JSON Schema
// gets `additionalProperties: false`, so a field a route starts sending without a schema here fails the response
// tests (test/node/openapi-responses.test.ts) instead of going undocumented.
import * as z from "zod";

const int = z.number().int();

// ---- Astron envelopes (spec §1.3): HTTP 200, the code in the body -------------------------------------------------

/** Any Astron failure: validation (460), a route's own code, or an authentication failure on any route. */
export const AstronError = z
  .object({ code: int, message: z.string(), sid: z.string().optional() })
  .describe("Astron error envelope (HTTP 200; `code` is the spec §1.6 error code, never 0)");

/** A success envelope; `data` is left out when it is empty (Python truthiness, spec §1.3). */
export function envelope<T extends z.ZodType>(data?: T) {
  return z.object({
    code: z.literal(0),
    message: z.string(),
    sid: z.string().optional(),
    ...(data ? { data: data.optional() } : {}),
  });
}

export const Ok = envelope().describe("Astron success envelope without data");

export const FlowCreated = envelope(z.object({ flow_id: z.string() }));

export const FlowRecord = envelope(
  z.object({
    id: z.string(),
    group_id: z.string(),
    name: z.string(),
    data: z.unknown(),
    release_data: z.unknown(),
    description: z.string(),
    version: z.string(),
    status: int,
    release_status: int,
    app_id: z.string(),
    source: int,
    tag: int,
    create_at: z.string(),
    update_at: z.string(),
  }),
);

export const FlowInfo = envelope(
  z.object({
    name: z.string(),
    description: z.string(),
    inputSchema: z.object({
      type: z.literal("object"),
      properties: z.record(z.string(), z.unknown()),
      required: z.array(z.string()),
    }),
  }),
);

const Usage = z.object({ completion_tokens: int, prompt_tokens: int, total_tokens: int });

export const NodeDebugResult = envelope(
  z.object({
    node_id: z.string(),
    alias_name: z.string(),
    node_type: z.string(),
    input: z.string(),
    raw_output: z.string(),
    output: z.string(),
    node_exec_cost: z.string(),
    token_cost: Usage,
  }),
);

export const CodeRunResult = envelope(z.unknown().describe("the decoded return value of `main`"));

export const Uploaded = envelope(z.object({ url: z.string() }));
export const UploadedMany = envelope(z.object({ urls: z.array(z.string()) }));
export const Cancelled = envelope(z.object({ cancelled: z.boolean() }));

// ---- chat frames (spec §2.2) ------------------------------------------------------------------------------------

const FinishReason = z.enum(["stop", "interrupt"]);

const FrameNode = z.object({
  id: z.string(),
  alias_name: z.string(),
  finish_reason: FinishReason.optional(),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  error_outputs: z.record(z.string(), z.unknown()),
  ext: z.record(z.string(), z.unknown()).optional(),
  executed_time: z.number(),
  usage: Usage.optional(),
});

/** One frame: an SSE event's `data`, a non-stream run's body, or an error before the stream (no node). */
export const ChatFrame = z
  .object({
    code: int,
    message: z.string(),
    id: z.string(),
    created: z.number(),
    workflow_step: z.object({ node: FrameNode.optional(), seq: int, progress: z.number() }).optional(),
    choices: z.array(
      z.object({
        delta: z.object({ role: z.literal("assistant"), content: z.string(), reasoning_content: z.string() }),
        index: int.optional(),
        finish_reason: FinishReason.optional(),
      }),
    ),
    usage: Usage.optional(),
    event_data: z
      .object({
        event_id: z.string(),
        event_type: z.literal("interrupt"),
        need_reply: z.boolean(),
        value: z.object({
          type: z.enum(["direct", "option"]),
          content: z.string(),
          option: z.array(z.object({ id: z.string(), text: z.string(), content_type: z.string() })).optional(),
        }),
      })
      .optional(),
  })
  .describe("a chat frame (spec §2.2)");

/** A chat or resume body that fails validation (spec §1.3): `id` instead of `sid`, `created` in ms. */
export const ChatParamError = z.object({ code: int, message: z.string(), id: z.string(), created: z.number() });

/** `/protocol/build` events (spec §1.5.8): a `"<code>: <message>"` failure, then always the end event. */
export const BuildEvent = z.union([
  z.object({ message: z.string() }),
  z.object({ end_of_stream: z.literal(true), sid: z.string() }),
]);

// ---- the project's own routes: HTTP statuses with `{code, message}` ----------------------------------------------

export const Problem = z.object({ code: int, message: z.string() }).describe("error of the runs and hooks API");

const RunStatus = z.enum(["running", "interrupt", "completed", "failed", "cancelled"]);

export const RunView = z.object({
  id: z.string(),
  flowId: z.string(),
  status: RunStatus,
  mode: z.enum(["open", "debug"]),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: int, message: z.string() }).nullable(),
  usage: Usage.nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  lastEventId: int,
  interrupt: z.object({ nodeId: z.string(), deadline: z.number() }).nullable(),
  nodes: z.record(
    z.string(),
    z.object({ startedAt: z.number(), endedAt: z.number(), code: int.optional(), usage: Usage.optional() }),
  ),
  hookId: z.string().nullable(),
  callback: z
    .object({
      url: z.string(),
      status: z.enum(["pending", "delivered", "failed"]),
      attempts: int,
      nextAttemptAt: z.number().nullable(),
      log: z.array(z.object({ attempt: int, at: z.number(), status: int, error: z.string().nullable() })),
    })
    .nullable(),
  traceId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .nullable()
    .describe("the run's OpenTelemetry trace id (null when traces are not exported)"),
});

export const RunCancelled = z.object({ id: z.string(), cancelled: z.boolean() });

export const RunList = z.object({
  runs: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      code: int,
      message: z.string(),
      mode: z.string(),
      startedAt: z.number(),
      endedAt: z.number(),
      usage: z.unknown(),
    }),
  ),
  next: z.string().nullable().describe("the query of the next page, or null on the last one"),
});

export const FlowList = z.object({
  flows: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      updatedAt: z.string(),
      published: z.boolean().describe("the flow's latest published row is live for open runs"),
      versions: z.array(z.string()).describe("published versions, newest first"),
      lastRun: z
        .object({ id: z.string(), status: z.string(), code: int, startedAt: z.number(), endedAt: z.number() })
        .nullable()
        .describe("the caller's latest finished run of the flow"),
    }),
  ),
});

const hookFields = {
  hook_id: z.string(),
  url: z.string(),
  flow_id: z.string(),
  version: z.string(),
  mode: z.enum(["sync", "async", "stream"]),
  auth: z.enum(["signature", "bearer"]),
  mapping: z.record(z.string(), z.string()),
  callback_url: z.string().nullable(),
  sync_timeout_ms: int,
  rate_per_minute: int,
  max_body_bytes: int,
  active_secrets: int,
  created_at: z.number(),
  updated_at: z.number(),
};

export const Hook = z.object(hookFields).describe("a webhook as listed (never its secrets)");
export const HookCreated = z
  .object({
    ...hookFields,
    secret: z.string().optional(),
    token: z.string().optional(),
    callback_secret: z.string().optional(),
  })
  .describe("the one answer that shows the hook's secret or token");
export const HookRotated = z.object({ ...hookFields, secret: z.string().optional(), token: z.string().optional() });
export const HookList = z.object({ hooks: z.array(Hook) });
export const HookDeleted = z.object({ hook_id: z.string(), deleted: z.literal(true) });

/** A delivery whose run finished (completed, or failed with the run's own code: still HTTP 200). */
export const HookResult = z.object({
  code: int,
  message: z.string(),
  run_id: z.string(),
  status: RunStatus,
  outputs: z.record(z.string(), z.unknown()).optional(),
});
export const HookAccepted = z.object({
  code: z.literal(0),
  message: z.string(),
  run_id: z.string(),
  status: RunStatus,
  status_url: z.string(),
  events_url: z.string(),
});

export const Health = z.object({ ok: z.literal(true) });

export const OpenApiDocument = z
  .object({ openapi: z.literal("3.1.0"), info: z.object({ title: z.string(), version: z.string() }).loose() })
  .loose()
  .describe("this document");
