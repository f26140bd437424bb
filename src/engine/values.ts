// Value helpers of spec §4.3, §6.1 and §6.5: JSON types, type defaults, literal coercion by typed parsing.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { JsonSchema } from "./types.ts";

export type JsonTypeName = "string" | "boolean" | "integer" | "number" | "array" | "object" | "null";

export function jsonType(v: unknown): JsonTypeName {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  if (Array.isArray(v)) return "array";
  return "object";
}

/** spec §6.1 step 1: string "", integer 0, number 0.0, boolean false, array [], object {}; unknown → null */
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

export function outputDefault(schema: JsonSchema): unknown {
  return "default" in schema && schema.default !== undefined ? deepClone(schema.default) : typeDefault(schema.type);
}

export function deepClone<T>(v: T): T {
  return v === null || typeof v !== "object" ? v : structuredClone(v);
}

/**
 * spec §4.3 [new]: coerce a literal to its declared type by typed parsing, never by evaluating it.
 * Failure → 20601 naming where the literal is.
 */
export function coerceLiteral(value: unknown, type: string, where: string): unknown {
  const actual = jsonType(value);
  const fail = (): never => {
    throw WorkflowError.of(Codes.VARIABLE_POOL_SET_PARAMETER_ERROR, `${where}: cannot convert ${JSON.stringify(value) ?? String(value)} to ${type}`);
  };
  switch (type) {
    case "string":
      if (actual === "string") return value;
      if (actual === "integer" || actual === "number" || actual === "boolean") return String(value);
      if (actual === "array" || actual === "object") return JSON.stringify(value);
      return fail();
    case "boolean":
      if (actual === "boolean") return value;
      if (actual === "string") return !(value === "false" || value === "False");
      return fail();
    case "integer":
    case "number": {
      if (actual === "integer") return value;
      if (actual === "number") return type === "number" ? value : fail();
      if (actual !== "string") return fail();
      const text = (value as string).trim();
      const n = text === "" ? Number.NaN : Number(text);
      if (!Number.isFinite(n)) return fail();
      if (type === "integer" && !Number.isInteger(n)) return fail();
      return n;
    }
    case "array":
    case "object": {
      if (actual === type) return value;
      if (actual !== "string") return fail();
      let parsed: unknown;
      try {
        parsed = JSON.parse(value as string);
      } catch {
        return fail();
      }
      return jsonType(parsed) === type ? parsed : fail();
    }
    default:
      return value;
  }
}
