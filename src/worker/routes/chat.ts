// Chat, debug chat and the two resumes (spec §1.5.1–1.5.3), plus the project's cancel (§6.12 [new]).
import { Hono } from "hono";
import * as z from "zod";
import {
  Codes,
  createGuardedFetch,
  formatTraceparent,
  parseTraceparent,
  toWorkflowError,
  WorkflowError,
  type Plan,
} from "../../engine/index.ts";
import { ChatBody, finalErrorFrame, ResumeBody, resumeRun, startRun, type ResolvedFlow } from "../chat.ts";
import { appId, body, catalog, fileOutputs, planFor, resolveOpenFlow, type Ctx } from "../context.ts";
import { pluginConfig, type AppEnv } from "../env.ts";
import { success, validationMessage } from "../envelope.ts";
import { fileConfig, validateFileParameters } from "../files.ts";
import { newRunId } from "../ids.ts";
import { ownRunSummary, runStub } from "../owner.ts";
import { asShapeError } from "../validate.ts";
import type { StartOutput } from "../start-outputs.ts";
import { contentHash } from "../store/cache.ts";

export const chat = new Hono<AppEnv>();

/** Chat-path validation errors have their own shape (spec §1.3): id and created (ms, float). */
function chatParamError(sid: string, message: string): Response {
  return Response.json({ code: Codes.PARAM_ERROR, message, id: sid, created: Date.now() + 0.0 });
}

async function parse<S extends z.ZodType>(
  c: Ctx,
  schema: S,
): Promise<{ ok: true; value: z.infer<S> } | { ok: false; response: Response }> {
  let raw: unknown = {};
  try {
    const text = await c.req.text();
    raw = text.trim() ? JSON.parse(text) : {};
  } catch {
    return {
      ok: false,
      response: chatParamError(c.get("sid"), "Parameter: body, Input: null, Error: JSON decode error (json_invalid)"),
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, response: chatParamError(c.get("sid"), validationMessage("body", parsed.error, raw)) };
  return { ok: true, value: parsed.data };
}

/** What a run needs before it starts: the flow's DSL, its plan, and the plugins' configuration. */
export interface PreparedRun {
  flow: ResolvedFlow;
  plan: Plan;
  config: Record<string, string | undefined>;
}

/**
 * Resolves the flow (open runs: the published row, licence checked), its plan, the sub-flow credentials, and checks
 * file-typed start parameters (chat and webhooks).
 */
export async function prepareRun(
  c: Ctx,
  flowId: string,
  caller: string,
  version: string,
  mode: "open" | "debug",
  parameters: Record<string, unknown>,
): Promise<PreparedRun> {
  const cat = catalog(c);
  let flow: ResolvedFlow;
  let owner: string;
  let hash: string;
  let files: StartOutput[];
  /** the DSL for a compile, read only when the isolate does not hold the plan */
  let load: () => Promise<{ dsl: unknown; hash?: string }>;
  // issue 13: a debug run shows every node's inputs and outputs, so only the flow's own app may start one (an open
  // run needs only a licence)
  const own = mode === "debug" ? await cat.ownFlow(flowId, caller) : undefined;
  if (mode === "open" || version) {
    // spec §1.5.2: a debug run of a version checks the licence but executes the row's `data`
    const useRelease = mode === "open";
    const { entry, dsl } = await resolveOpenFlow(c, flowId, caller, version, useRelease);
    flow = { flowId, version: entry.row.version, updatedAt: entry.row.update_at };
    owner = entry.row.app_id;
    hash = entry.hash;
    files = entry.files;
    load = async () => {
      if (dsl !== undefined) return { dsl, hash: entry.hash };
      const row = await cat.publishedRow(await cat.requireFlow(flowId), version);
      return { dsl: useRelease ? row.release_data : row.data };
    };
  } else {
    const row = own ?? (await cat.ownFlow(flowId, caller));
    flow = { flowId, version: "draft", updatedAt: row.update_at };
    owner = row.app_id;
    hash = row.data ? await contentHash(JSON.stringify(row.data)) : "";
    files = row.data ? fileOutputs(row.data) : [];
    load = async () => ({ dsl: row.data, hash });
  }
  if (!hash) {
    // a debug run executes the draft (or a version's `data`): a flow saved without one was never built, which says
    // nothing about publishing (20204 is for open runs of a flow whose published row has no DSL)
    if (mode === "debug")
      throw WorkflowError.of(
        Codes.PROTOCOL_VALIDATION_ERROR,
        version
          ? `version ${version.slice(0, 64)} has no DSL to debug`
          : "the flow has no draft to debug: save its DSL first",
      );
    throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR, "the flow has no DSL");
  }
  // spec §4.10: a stored DSL of the wrong shape fails a run with 20100 and the validator's text
  const plan = await planFor(flow.flowId, flow.version, hash, load).catch((e: unknown) => {
    throw asShapeError(e, Codes.PROTOCOL_VALIDATION_ERROR);
  });
  // spec §5.12: a sub-flow is called with the credentials of the app its node names (20000 when unknown),
  // checked before any node runs. Issue 13: that app must be the flow's own (the author's sub-flows run as the
  // author, also for a licensee) — a node naming another app would act for it with its credentials.
  const credentials: Record<string, string> = {};
  for (const node of plan.nodes) {
    if (node.type !== "flow") continue;
    const app = (node.params as { appId?: unknown }).appId;
    if (typeof app === "string" && app !== owner)
      throw WorkflowError.of(
        Codes.APP_NOT_FOUND_ERROR,
        `sub-flow node ${node.id} names app ${app.slice(0, 64)}, not the flow's own app`,
      );
    if (typeof app !== "string" || app in credentials) continue;
    const row = await cat.requireApp(app);
    credentials[app] = `${row.api_key}:${row.api_secret}`;
  }
  // file-typed start parameters are checked (a HEAD per URL) when the start node declares any
  if (files.length > 0) {
    const guarded = createGuardedFetch(fetch, {
      allowPrivate: c.env.ALLOW_PRIVATE_FETCH === "true",
      timeoutMs: 10_000,
      errorCode: Codes.FILE_INVALID_TYPE_ERROR,
    });
    await validateFileParameters(files, parameters, (url) => guarded(url, { method: "HEAD" }), fileConfig(c.env));
  }
  // a sub-flow call carries its depth (spec §5.12 [new]: recursive flows stop with a clear error)
  const config = {
    ...pluginConfig(c.env),
    SUBFLOW_DEPTH: c.req.header("x-subflow-depth") ?? "0",
    // the one app a sub-flow node may act for (src/plugins/flow.ts checks it again)
    SUBFLOW_APP: owner,
    ...(Object.keys(credentials).length ? { SUBFLOW_CREDENTIALS: JSON.stringify(credentials) } : {}),
  };
  return { flow, plan, config };
}

async function chatRoute(c: Ctx, mode: "open" | "debug"): Promise<Response> {
  const sid = c.get("sid");
  const caller = c.get("appId");
  if (!caller)
    return chatParamError(sid, "Parameter: header->x-consumer-username, Input: null, Error: Field required (missing)");
  const parsed = await parse(c, ChatBody);
  if (!parsed.ok) return parsed.response;
  const b = parsed.value;
  try {
    const { flow, plan, config } = await prepareRun(c, b.flow_id, caller, b.version, mode, b.parameters);
    return await startRun({
      ns: c.env.RUN,
      flow,
      plan,
      body: b,
      appId: caller,
      mode,
      eventId: newRunId(),
      sid,
      config,
      deadlineMs: Number(c.env.RUN_DEADLINE_MS ?? 30 * 60_000),
      frameTimeoutMs: Number(c.env.FRAME_TIMEOUT_MS ?? 120_000),
      waitUntil: (p) => c.executionCtx.waitUntil(p),
      ...incomingTrace(c),
      admission: c.env,
    });
  } catch (e) {
    return finalErrorFrame(sid, toWorkflowError(e, Codes.OPEN_API_ERROR).toData());
  }
}

async function resumeRoute(c: Ctx, mode: "open" | "debug"): Promise<Response> {
  const sid = c.get("sid");
  const caller = c.get("appId");
  if (!caller)
    return chatParamError(sid, "Parameter: header->x-consumer-username, Input: null, Error: Field required (missing)");
  const parsed = await parse(c, ResumeBody);
  if (!parsed.ok) return parsed.response;
  try {
    return await resumeRun({
      ns: c.env.RUN,
      body: parsed.value,
      appId: caller,
      mode,
      sid,
      frameTimeoutMs: Number(c.env.FRAME_TIMEOUT_MS ?? 120_000),
      ...incomingTrace(c),
    });
  } catch (e) {
    return finalErrorFrame(sid, toWorkflowError(e, Codes.EVENT_REGISTRY_NOT_FOUND_ERROR).toData());
  }
}

/** issue 17: the request's W3C traceparent when it is valid (an invalid one is ignored, never an error) */
export function incomingTrace(c: Ctx): { traceparent?: string } {
  const parsed = parseTraceparent(c.req.header("traceparent"));
  return parsed ? { traceparent: formatTraceparent(parsed) } : {};
}

chat.post("/chat/completions", (c) => chatRoute(c, "open"));
chat.post("/debug/chat/completions", (c) => chatRoute(c, "debug"));
chat.post("/resume", (c) => resumeRoute(c, "open"));
chat.post("/debug/resume", (c) => resumeRoute(c, "debug"));

export const CancelBody = z.object({ event_id: z.string().min(1).max(128) });

/** [new] spec §6.12 MAY: cancel a run by event id — the caller's own run only (issue 13). */
chat.post("/cancel", async (c) => {
  const app = appId(c);
  const b = await body(c, CancelBody);
  // another app's run answers like a missing one (the run object checks again)
  if (!(await ownRunSummary(c, b.event_id, app)))
    throw WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Event not found");
  const cancelled = await runStub(c, b.event_id).cancel(app);
  return success(c.get("sid"), { cancelled });
});
