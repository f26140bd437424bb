// Chat and resume (spec §1.5.1–1.5.3): resolve the flow and its plan, create the event, start the run's Durable
// Object over RPC and relay its frames through the open or debug filter.
import * as z from "zod";
import { Codes, WorkflowError, type ErrorData, type Frame, type Plan } from "../engine/index.ts";
import type { RunObject, RunReply, RunSummary } from "../durable/run-object.ts";
import type { RunRequest } from "../durable/run-store.ts";
import { admitRun, isOverload, overloaded, retryAfter } from "./admission.ts";
import { runObject } from "./owner.ts";
import { relayResponse } from "./relay.ts";

export const ChatBody = z.object({
  flow_id: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  uid: z.string().max(40).default(""),
  stream: z.boolean().default(true),
  chat_id: z.string().max(128).default(""),
  history: z
    .array(
      z.object({
        role: z.enum(["user", "assistant"]),
        content: z.string(),
        content_type: z.enum(["text", "image", "audio"]).default("text"),
      }),
    )
    .default([]),
  version: z.string().default(""),
  ext: z.record(z.string(), z.unknown()).default({}),
});
export type ChatBody = z.infer<typeof ChatBody>;

export const ResumeBody = z.object({
  event_id: z.string().min(1).max(128),
  event_type: z.string().default("resume"),
  content: z.string(),
});
export type ResumeBody = z.infer<typeof ResumeBody>;

/** What the chat path needs from the catalog: the flow and what identifies the version that runs. */
export interface ResolvedFlow {
  flowId: string;
  /** changes whenever the DSL changes (plan key part) */
  version: string;
  updatedAt: string;
}

export interface StartArgs {
  ns: DurableObjectNamespace<RunObject>;
  flow: ResolvedFlow;
  plan: Plan;
  body: ChatBody;
  appId: string;
  mode: "open" | "debug";
  eventId: string;
  sid: string;
  config: Record<string, string | undefined>;
  deadlineMs: number;
  frameTimeoutMs: number;
  waitUntil: (p: Promise<unknown>) => void;
  /** issue 17: the caller's valid traceparent (the run's trace becomes a child of it) */
  traceparent?: string;
  /** the worker's settings that bound the runs in flight (src/worker/admission.ts) */
  admission: { MAX_RUNS_IN_FLIGHT?: string };
}

const planTexts = new WeakMap<Plan, string>();

/**
 * The plan as the run object takes it: its JSON text, one string across RPC instead of the plan's object graph
 * (stored by the object as it came). A plan from the isolate's cache is the same frozen object on every hit, so its
 * text is made once.
 */
export function planText(plan: Plan): string {
  let text = planTexts.get(plan);
  if (text === undefined) planTexts.set(plan, (text = JSON.stringify(plan)));
  return text;
}

/** Starts the run's object and answers with its frames (SSE or one JSON body). */
export async function startRun(args: StartArgs): Promise<Response> {
  // issue 15: a run the isolate has no room for is refused before its object exists (503, Retry-After)
  const release = admitRun(args.admission, args.eventId);
  if (!release) return finalErrorFrame(args.sid, overloaded().toData());
  try {
    return await handOver(args);
  } finally {
    release(); // the object holds the run's place from here (src/durable/in-flight.ts)
  }
}

async function handOver(args: StartArgs): Promise<Response> {
  const request: RunRequest = {
    eventId: args.eventId,
    sid: args.sid,
    flowId: args.flow.flowId,
    appId: args.appId,
    uid: args.body.uid,
    chatId: args.body.chat_id,
    mode: args.mode,
    // spec §1.5.2: a debug event keeps is_stream true, so a debug resume always streams
    stream: args.mode === "debug" ? true : args.body.stream,
    parameters: args.body.parameters,
    history: args.body.history,
    deadlineMs: args.deadlineMs,
    config: args.config,
    flowVersion: args.flow.version,
    ...(args.traceparent ? { traceparent: args.traceparent } : {}),
  };
  const stub = runObject(args.ns, args.eventId);
  if (!args.body.stream) {
    // non-stream: the object filters and answers with the one frame (no frame stream across RPC)
    const collected = (await stub
      .startCollect({ request, plan: planText(args.plan) }, args.frameTimeoutMs)
      .catch((e: unknown) => objectFailed(args.eventId, e))) as
      { ok: true; frame: Frame } | { ok: false; error: ErrorData };
    if (!collected.ok) return finalErrorFrame(args.sid, collected.error);
    return new Response(JSON.stringify(collected.frame), {
      headers: { "Content-Type": "application/json; charset=utf-8", "X-Run-Id": args.eventId },
    });
  }
  const reply = (await stub
    .start({ request, plan: planText(args.plan) })
    .catch((e: unknown) => objectFailed(args.eventId, e))) as RunReply;
  if (!reply.ok) return finalErrorFrame(args.sid, reply.error);
  // the run's id, for the runs API (GET /runs/{id}, /runs/{id}/events)
  return relayResponse(
    reply.stream,
    {
      mode: args.mode,
      stream: args.body.stream,
      sid: args.sid,
      frameTimeoutMs: args.frameTimeoutMs,
      onClientGone: () => args.waitUntil(stub.cancel(args.appId)),
    },
    { "X-Run-Id": args.eventId },
  );
}

export interface ResumeArgs {
  ns: DurableObjectNamespace<RunObject>;
  body: ResumeBody;
  /** the caller's app: another app's run is "not found" (issue 13) */
  appId: string;
  mode: "open" | "debug";
  sid: string;
  frameTimeoutMs: number;
  /** issue 17: the answer's caller (a link from the run's wait span) */
  traceparent?: string;
}

/** Resumes a paused run (spec §1.5.3, §2.6): frames get the resume's own sid; stream-vs-JSON follows the event. */
export async function resumeRun(args: ResumeArgs): Promise<Response> {
  const stub = runObject(args.ns, args.body.event_id);
  const summary = (await stub.summary(args.appId)) as RunSummary | null;
  if (!summary)
    return finalErrorFrame(
      args.sid,
      WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Event not found").toData(),
    );
  const reply = (await stub.resume(
    { eventType: args.body.event_type, content: args.body.content },
    args.appId,
    args.traceparent,
  )) as RunReply;
  if (!reply.ok) return finalErrorFrame(args.sid, reply.error);
  return relayResponse(reply.stream, {
    mode: args.mode,
    stream: summary.stream,
    sid: args.sid,
    frameTimeoutMs: args.frameTimeoutMs,
  });
}

/**
 * The run's object threw instead of answering (its errors travel as data): storage refused a write (SQLITE_TOOBIG…)
 * or the platform failed. The client gets a coded, generic error; the exception's text names internals and goes to
 * the log only.
 */
function objectFailed(eventId: string, e: unknown): { ok: false; error: ErrorData } {
  console.log(`[run ${eventId}] run object failed: ${e instanceof Error ? e.message : String(e)}`);
  // the platform out of room (files, memory, objects): the run never started, and the caller may retry (503)
  if (isOverload(e)) return { ok: false, error: overloaded().toData() };
  return { ok: false, error: WorkflowError.of(Codes.OPEN_API_ERROR).toData() };
}

/**
 * An error before the stream starts (spec §1.5.1): HTTP 200 JSON shaped like a final frame without node, even when
 * `stream` was requested. Overload (24201, issue 15) is the one exception: HTTP 503 with Retry-After, so that
 * clients and load balancers that know nothing of the envelope back off.
 */
export function finalErrorFrame(sid: string, error: ErrorData): Response {
  const body = {
    code: error.code,
    message: error.message,
    id: sid,
    created: Math.floor(Date.now() / 1000),
    workflow_step: { seq: 0, progress: 1.0 },
    choices: [{ delta: { role: "assistant", content: "", reasoning_content: "" }, index: 0, finish_reason: "stop" }],
    usage: { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
  };
  const busy = error.code === Codes.RUN_OVERLOADED_ERROR;
  return new Response(JSON.stringify(body), {
    status: busy ? 503 : 200,
    headers: { "Content-Type": "application/json; charset=utf-8", ...(busy ? retryAfter() : {}) },
  });
}
