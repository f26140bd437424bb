// The `rpa` node (spec §5.20, services §5): runs a robot of the RPA service and maps the robot's output map to the
// declared outputs like the plugin node does. The original engine rejected this type (22101); we implement the
// contract of `POST /rpa/v1/exec`: SSE with ping comments and exactly one data event `{code, message, sid, data}`.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeResult } from "../engine/plugin.ts";
import { decodeStream, SseParser } from "../engine/sse.ts";
import { mapOutputs } from "./plugin-tool.ts";

const Params = z
  .object({
    projectId: z.string().min(1),
    /** the RPA platform's name (the console's `source`); informative only */
    source: z.string().default(""),
    /** the assistant's credential fields; `apiKey` is the robot platform token (services §5.1 [new]) */
    header: z.record(z.string(), z.unknown()).default({}),
    execPosition: z.string().default("EXECUTOR"),
  })
  .loose();
type Params = z.infer<typeof Params>;

/** Robots run for minutes (services §5.3: the service polls every 10 s up to 300 s by default). */
const DEFAULT_TIMEOUT_MS = 10 * 60_000;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export default definePlugin({
  type: "rpa",
  params: Params,
  retryable: true,
  // a robot acts on real systems: never started twice behind the user's back
  idempotent: false,
  errorCode: Codes.NODE_RUN_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const base = ctx.config.RPA_URL;
    if (!base) throw WorkflowError.of(Codes.NODE_RUN_ERROR, "RPA_URL is not configured");
    const token = typeof p.header.apiKey === "string" ? p.header.apiKey.trim() : "";
    if (!token) throw WorkflowError.of(Codes.NODE_RUN_ERROR, "the rpa node has no apiKey in nodeParam.header");
    // the token must never reach a frame, a log line or an error message
    const redact = (text: string): string => text.split(token).join("***");
    const fail = (detail: string): WorkflowError => WorkflowError.of(Codes.NODE_RUN_ERROR, redact(detail));

    const timeoutMs = ctx.readTimeoutMs > 0 ? ctx.readTimeoutMs + 1000 : DEFAULT_TIMEOUT_MS;
    let event: Record<string, unknown> | undefined;
    try {
      const res = await ctx.fetch(`${base.replace(/\/+$/, "")}/rpa/v1/exec`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({
          project_id: p.projectId,
          exec_position: p.execPosition,
          params: ctx.inputs,
          sid: ctx.run.sid,
        }),
        signal: ctx.signal,
        timeoutMs,
        maxBytes: 16 * 1024 * 1024,
      });
      if (!res.ok || !res.body)
        throw fail(`the RPA service answered HTTP ${res.status}: ${(await res.text().catch(() => "")).slice(0, 200)}`);
      const parser = new SseParser();
      // services §5.3: pings are comments, the one data event ends the run
      read: for await (const text of decodeStream(res.body)) {
        for (const ev of parser.push(text)) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(ev.data);
          } catch {
            throw fail(`malformed RPA event: ${ev.data.slice(0, 100)}`);
          }
          if (!isObj(parsed)) throw fail("the RPA event is not an object");
          event = parsed;
          break read;
        }
      }
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (isWorkflowError(e)) throw new WorkflowError(e.code, redact(e.message));
      // the guarded fetch's timeout aborts the body read with a DOMException
      if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError"))
        throw fail(`the robot did not finish within ${timeoutMs} ms`);
      throw fail(clientText(e));
    }
    // services §5.3 [new]: a stream that ends without its data event is an error
    if (!event) throw fail("the RPA stream ended without a result");
    const code = typeof event.code === "number" ? event.code : Number.NaN;
    if (code !== 0) {
      // the service's own codes are the clearest we have (codes.ts has no RPA code): 55001 create failed,
      // 55002 robot failed, 55003 robot timed out on the platform; anything unusable is 22302
      const message = redact(String(event.message ?? ""));
      if (Number.isInteger(code) && code > 0) throw new WorkflowError(code, `RPA robot failed(${code}: ${message})`);
      throw fail(`the RPA event has no usable code: ${message}`);
    }
    const data = isObj(event.data) ? event.data : {};
    return { outputs: mapOutputs(data, ctx.outputs) };
  },
});
