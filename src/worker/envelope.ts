// Response envelopes of spec §1.3. Astron routes answer HTTP 200 with the code in the body.
import type { z } from "zod";
import { Codes, WorkflowError } from "../engine/index.ts";
import { clipText, previewJson } from "../engine/preview.ts";

export function success(sid: string, data?: unknown): Response {
  const body: Record<string, unknown> = { code: 0, message: "success" };
  // `data` is omitted when falsy (spec §1.3)
  if (!isFalsy(data)) body.data = data;
  if (sid) body.sid = sid;
  return json(body);
}

export function failure(sid: string, code: number, message: string, status = 200): Response {
  const body: Record<string, unknown> = { code, message };
  if (sid) body.sid = sid;
  return json(body, status);
}

export function errorResponse(sid: string, e: WorkflowError): Response {
  return failure(sid, e.code, e.message);
}

/** The chat/resume variant of a validation error (spec §1.3): `id` instead of `sid`, `created` in ms. */
export function chatValidationFailure(sid: string, message: string, now: number = Date.now()): Response {
  return json({ code: Codes.PARAM_ERROR, message, id: sid, created: now });
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });
}

/** Python truthiness, which the original's `response_success` applies to `data`. */
export function isFalsy(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

type Where = "body" | "header" | "query" | "path";

/** Lines a validation message lists; a body with a million bad items must not make a million-line message. */
const MAX_LINES = 20;

/**
 * The 460 message of spec §1.3: one line per failed field,
 * `Parameter: body->flow_id, Input: {...}, Error: Field required (missing)`, worded like the original's pydantic
 * errors (a missing field shows the object it is missing from; any other failure shows the offending value).
 * Values and keys are quoted by a short prefix only (issue 13 item 8): the message never grows with the input.
 */
export function validationMessage(where: Where, error: z.ZodError, input: unknown): string {
  const lines = error.issues.slice(0, MAX_LINES).map((issue) => validationLine(where, issue, input));
  const more = error.issues.length - MAX_LINES;
  if (more > 0) lines.push(`… and ${more} more error${more === 1 ? "" : "s"}`);
  return lines.join("\n");
}

export function validationLine(where: Where, issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map((key) => clipText(String(key)));
  const value = valueAt(input, issue.path);
  const missing = value === undefined;
  const shown = missing ? valueAt(input, issue.path.slice(0, -1)) : value;
  const text = missing ? "Field required (missing)" : describeIssue(issue);
  return `Parameter: ${[where, ...path].join("->")}, Input: ${previewJson(shown)}, Error: ${text}`;
}

/** A zod issue in pydantic's words and error types, so clients that log the message see familiar text. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type": {
      const types: Record<string, [string, string]> = {
        string: ["a valid string", "string_type"],
        number: ["a valid number", "float_type"],
        int: ["a valid integer", "int_type"],
        boolean: ["a valid boolean", "bool_type"],
        object: ["a valid dictionary", "dict_type"],
        record: ["a valid dictionary", "dict_type"],
        array: ["a valid list", "list_type"],
      };
      const [what, type] = types[issue.expected] ?? [`a valid ${issue.expected}`, `${issue.expected}_type`];
      return `Input should be ${what} (${type})`;
    }
    case "too_small": {
      const n = Number(issue.minimum);
      if (issue.origin === "string")
        return `String should have at least ${n} character${n === 1 ? "" : "s"} (string_too_short)`;
      if (issue.origin === "array")
        return `List should have at least ${n} item${n === 1 ? "" : "s"} after validation (too_short)`;
      return `Input should be greater than${issue.inclusive ? " or equal to" : ""} ${n} (${issue.inclusive ? "greater_than_equal" : "greater_than"})`;
    }
    case "too_big": {
      const n = Number(issue.maximum);
      if (issue.origin === "string")
        return `String should have at most ${n} character${n === 1 ? "" : "s"} (string_too_long)`;
      if (issue.origin === "array")
        return `List should have at most ${n} item${n === 1 ? "" : "s"} after validation (too_long)`;
      return `Input should be less than${issue.inclusive ? " or equal to" : ""} ${n} (${issue.inclusive ? "less_than_equal" : "less_than"})`;
    }
    case "invalid_format":
      if (issue.format === "regex" && "pattern" in issue) {
        // zod gives the pattern as a regex literal (`/…/flags`); pydantic shows the bare source
        const source = String(issue.pattern).replace(/^\/(.*)\/[a-z]*$/s, "$1");
        return `String should match pattern '${source}' (string_pattern_mismatch)`;
      }
      return `${issue.message} (value_error)`;
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const list = values.length > 1 ? `${values.slice(0, -1).join(", ")} or ${values.at(-1)}` : (values[0] ?? "");
      return `Input should be ${list} (literal_error)`;
    }
    case "invalid_union": {
      // a union of literals (e.g. release_status 1|2|3) reads best as the list of accepted values
      const accepted = issue.errors.flatMap((branch) =>
        branch.flatMap((i) => (i.code === "invalid_value" ? i.values : [])),
      );
      if (accepted.length > 0 && accepted.length === issue.errors.length) {
        const values = accepted.map((v) => JSON.stringify(v));
        return `Input should be ${values.slice(0, -1).join(", ")}${values.length > 1 ? " or " : ""}${values.at(-1)} (literal_error)`;
      }
      // a union of types (an id as string or number) reads as its first alternative
      const first = issue.errors[0]?.[0];
      if (first && issue.errors.every((branch) => branch.every((i) => i.code === "invalid_type")))
        return describeIssue(first);
      return `${issue.message} (union_error)`;
    }
    default:
      return `${issue.message} (${issue.code})`;
  }
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
