// Value helpers of spec §4.3, §6.1 and §6.5: JSON types, type defaults, literal coercion by typed parsing.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { JsonSchema } from "./types.ts";

export type JsonTypeName = "string" | "boolean" | "integer" | "number" | "array" | "object" | "null";

/** The JSON type of a value: integral numbers are "integer", booleans are never numbers, undefined counts as null. */
export function jsonType(v: unknown): JsonTypeName {
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number":
      return Number.isInteger(v) ? "integer" : "number";
    case "undefined":
      return "null";
    default:
      if (v === null) return "null";
      return Array.isArray(v) ? "array" : "object";
  }
}

/** spec §6.1 step 1: string "", integer 0, number 0.0, boolean false, array [], object {}; unknown type → null. */
export function typeDefault(type: string | undefined): unknown {
  switch (type) {
    case "string":
      return "";
    case "integer":
    case "number":
      return 0;
    case "boolean":
      return false;
    case "array":
      return [];
    case "object":
      return {};
    default:
      return null;
  }
}

/** The initial value of a declared output (spec §4.4, §6.5): its schema `default` (a fresh copy), else the type default. */
export function outputDefault(schema: JsonSchema): unknown {
  return Object.hasOwn(schema, "default") && schema.default !== undefined
    ? deepClone(schema.default)
    : typeDefault(schema.type);
}

/** A deep copy of plain JSON data; scalars are returned as they are. */
export function deepClone<T>(v: T): T {
  return v === null || typeof v !== "object" ? v : structuredClone(v);
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * spec §4.3 [new] (and §11 item 2): coerce a literal to its declared type by typed parsing, never by evaluating it.
 * A literal whose JSON type already matches is kept; a declared type that is not one of the six value types (e.g.
 * "" or the biz "array-string") leaves the literal as it is. Failure → 20601 naming where the literal is.
 */
export function coerceLiteral(value: unknown, type: string, where: string): unknown {
  const fail = (): never => {
    throw WorkflowError.of(
      Codes.VARIABLE_POOL_SET_PARAMETER_ERROR,
      `${where}: cannot convert ${describe(value)} to ${type}`,
    );
  };
  switch (type) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))) return String(value);
      if (value !== null && typeof value === "object") return JSON.stringify(value);
      return fail();
    case "boolean":
      if (typeof value === "boolean") return value;
      // spec §4.3: only the strings "false"/"False" are false, every other string is true
      if (typeof value === "string") return !(value === "false" || value === "False");
      return fail();
    case "integer":
    case "number": {
      if (typeof value === "number") {
        if (!Number.isFinite(value)) return fail();
        return type === "number" || Number.isInteger(value) ? value : fail();
      }
      if (typeof value !== "string") return fail();
      const text = value.trim();
      // Number("") is 0 and Number("Infinity") is Infinity: neither is a number literal here
      const n = text === "" ? Number.NaN : Number(text);
      if (!Number.isFinite(n)) return fail();
      if (type === "integer" && !Number.isInteger(n)) return fail();
      return n;
    }
    case "array":
    case "object": {
      if (jsonType(value) === type) return value;
      if (typeof value !== "string") return fail();
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return fail();
      }
      return jsonType(parsed) === type ? parsed : fail();
    }
    default:
      return value;
  }
}

/** Freezes a value and everything it holds, for values that several callers share (cached rows, plans). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
