// Response envelopes of spec §1.3. Astron routes answer HTTP 200 with the code in the body.
import type { z } from "zod";
import { Codes, WorkflowError } from "../engine/index.ts";

export function success(sid: string, data?: unknown): Response {
  const body: Record<string, unknown> = { code: 0, message: "success" };
  // `data` is omitted when falsy (spec §1.3)
  if (!isFalsy(data)) body.data = data;
  if (sid) body.sid = sid;
  return json(body);
}

export function failure(sid: string, code: number, message: string): Response {
  const body: Record<string, unknown> = { code, message };
  if (sid) body.sid = sid;
  return json(body);
}

export function errorResponse(sid: string, e: WorkflowError): Response {
  return failure(sid, e.code, e.message);
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json; charset=utf-8", ...headers } });
}

function isFalsy(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v as object).length === 0;
  return false;
}

/** `Parameter: body->flow_id, Input: {...}, Error: Field required (missing)` lines (spec §1.3). */
export function validationMessage(where: "body" | "header" | "query", error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const missing = valueAt(input, issue.path) === undefined;
      const path = [where, ...issue.path.map(String)].join("->");
      const text = missing ? "Field required (missing)" : `${issue.message} (${issue.code})`;
      return `Parameter: ${path}, Input: ${JSON.stringify(input) ?? "null"}, Error: ${text}`;
    })
    .join("\n");
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

export function paramError(message: string): WorkflowError {
  return new WorkflowError(Codes.PARAM_ERROR, message);
}
