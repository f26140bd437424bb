// The project's runs API (issue 6): a run's status, its frames as SSE with Last-Event-ID replay, cancellation, and
// a paginated list per flow — scoped to the caller's app. Ordinary HTTP statuses with `{code, message}` bodies
// (ARCHITECTURE decision 6).
import { Hono } from "hono";
import { Codes } from "../../engine/index.ts";
import { SSE_HEADERS, sseEncodeWithId } from "../../engine/sse.ts";
import type { RunSummary } from "../../durable/run-object.ts";
import { catalog, type Ctx } from "../context.ts";
import type { AppEnv } from "../env.ts";
import { json } from "../envelope.ts";
import { ownRunSummary, runStub } from "../owner.ts";
import { readLines } from "../relay.ts";

export const runs = new Hono<AppEnv>();

function problem(status: number, code: number, message: string): Response {
  return json({ code, message }, status);
}

/** The caller's run, or a 401/404 answer (another app's run is "not found", never "forbidden"). */
async function ownRun(c: Ctx): Promise<{ summary: RunSummary } | { response: Response }> {
  const app = c.get("appId");
  if (!app) return { response: problem(401, Codes.PARAM_ERROR, "X-Consumer-Username is required") };
  const id = c.req.param("id") ?? "";
  const summary = id.length <= 128 ? await ownRunSummary(c, id, app) : null;
  if (!summary) return { response: problem(404, Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, `run ${id} not found`) };
  return { summary };
}

runs.get("/runs/:id", async (c) => {
  const r = await ownRun(c);
  if ("response" in r) return r.response;
  const s = r.summary;
  return json({
    id: s.eventId,
    flowId: s.flowId,
    status: s.status,
    mode: s.mode,
    inputs: s.parameters,
    outputs: s.outputs,
    error: s.code === 0 ? null : { code: s.code, message: s.message },
    usage: s.usage,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    lastEventId: s.lastSeq,
    interrupt: s.interrupt,
    nodes: s.nodes,
    hookId: s.hookId,
    callback: s.callback,
    // issue 17: the run's trace in the operator's tracing backend (null when traces are not exported)
    traceId: s.traceId,
  });
});

/** SSE of the run's frames with `id:` = sequence number; `Last-Event-ID` (or `?after=`) replays what follows. */
runs.get("/runs/:id/events", async (c) => {
  const r = await ownRun(c);
  if ("response" in r) return r.response;
  const after = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? "0");
  if (!Number.isInteger(after) || after < 0)
    return problem(400, Codes.PARAM_ERROR, "Last-Event-ID must be a sequence number");
  const reply = await runStub(c, r.summary.eventId).events(after, r.summary.appId);
  if (!reply.ok) return problem(404, reply.error.code, reply.error.message);
  const lines = readLines(reply.stream);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) return controller.close();
      controller.enqueue(encoder.encode(sseEncodeWithId(next.value.frame, next.value.seq)));
    },
    cancel() {
      void lines.return(undefined);
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
});

runs.post("/runs/:id/cancel", async (c) => {
  const r = await ownRun(c);
  if ("response" in r) return r.response;
  const cancelled = await runStub(c, r.summary.eventId).cancel(r.summary.appId);
  return json({ id: r.summary.eventId, cancelled }, cancelled ? 200 : 409);
});

const RUN_STATUSES = ["completed", "failed", "cancelled"];

/**
 * Finished runs of a flow, newest first; `?limit=` (≤ 100) and `?before=<startedAt>` page through them, `?status=`
 * keeps one status.
 */
runs.get("/flows/:id/runs", async (c) => {
  const app = c.get("appId");
  if (!app) return problem(401, Codes.PARAM_ERROR, "X-Consumer-Username is required");
  const limit = Math.min(100, Math.max(1, Number(c.req.query("limit") ?? "20") || 20));
  const before = c.req.query("before") ? Number(c.req.query("before")) : undefined;
  const status = c.req.query("status") || undefined;
  if (status !== undefined && !RUN_STATUSES.includes(status))
    return problem(400, Codes.PARAM_ERROR, `status must be one of ${RUN_STATUSES.join(", ")}`);
  const rows = await catalog(c).runHistory(c.req.param("id"), limit + 1, before, app, status);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return json({
    runs: page.map((row) => ({
      id: row.event_id,
      status: row.status,
      code: row.code,
      message: row.message,
      mode: row.mode,
      startedAt: row.started_at,
      endedAt: row.ended_at,
      usage: typeof row.usage === "string" ? (JSON.parse(row.usage) as unknown) : null,
    })),
    next:
      rows.length > limit && last
        ? `?limit=${limit}&before=${String(last.started_at)}${status ? `&status=${status}` : ""}`
        : null,
  });
});
