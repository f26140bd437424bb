// A draft-07 subset validator for the JSON-schema keywords the DSL uses (spec §4.4, §5.1, §6.5), plus the checks of
// declared outputs and of customOutput (§4.6).
//
// Keywords: type (a name or a list of names), properties, required, items (one schema), enum, const,
// additionalProperties (boolean or schema), minLength/maxLength, minimum/maximum, exclusiveMinimum/exclusiveMaximum
// (draft-07 numeric form), minItems/maxItems. Every other keyword is ignored. A type that is not a JSON-schema type
// (the empty string, the biz "array-string"/"array-object") imposes no constraint.
//
// Validation runs once per node output, so it interprets the schema directly (nothing compiled per call, no
// regular expressions) and first takes a fast pass that only answers valid/invalid; the pass that builds error
// texts and paths runs only when the fast pass fails.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import { clipText, previewJson } from "./preview.ts";
import type { JsonSchema, OutputSpec } from "./types.ts";
import { jsonType, outputDefault } from "./values.ts";

const MAX_REPORTED_ERRORS = 3;

/** Is `value` of the JSON-schema type `t`? `undefined` for a name that is not a JSON-schema type. */
function isOfType(value: unknown, t: string): boolean | undefined {
  switch (t) {
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      // booleans are never numbers; 2.0 is the integer 2 (draft-07)
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "null":
      return value === null || value === undefined;
    default:
      return undefined;
  }
}

/** Is `value` of the JSON-schema type `t`? A name that is not a JSON-schema type constrains nothing. */
export function matchesType(value: unknown, t: string): boolean {
  return isOfType(value, t) ?? true;
}

/**
 * Does the `type` keyword allow `value`? A name that is not a JSON-schema type means "no constraint"; in a list, one
 * such name makes the whole union unconstrained (anything or X is anything).
 */
function typeAllows(type: unknown, value: unknown): boolean {
  if (typeof type === "string") return isOfType(value, type) !== false;
  if (!Array.isArray(type)) return true;
  let matched = false;
  for (const t of type) {
    if (typeof t !== "string") return true;
    const r = isOfType(value, t);
    if (r === undefined) return true;
    if (r) matched = true;
  }
  return matched || type.length === 0;
}

function typeText(type: unknown): string {
  return Array.isArray(type) ? type.map(String).join(" or ") : String(type);
}

function isSchema(v: unknown): v is JsonSchema {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Equality of JSON values as draft-07 `enum`/`const` define it (booleans are not numbers, key order is irrelevant). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let count = 0;
  for (const k in ao) {
    if (!Object.hasOwn(ao, k)) continue;
    if (!Object.hasOwn(bo, k) || !jsonEqual(ao[k], bo[k])) return false;
    count++;
  }
  for (const k in bo) if (Object.hasOwn(bo, k)) count--;
  return count === 0;
}

/** String length in code points, as draft-07 counts it (Python's len), not UTF-16 units. */
function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** An own property with a value: what JSON would serialise (an `undefined` value counts as absent). */
function has(obj: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(obj, key) && obj[key] !== undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

/**
 * Checks `value` against `schema`. With `sink` null it stops at the first failure and builds no text (the fast
 * pass); with a sink it reports every failure, each naming its path. Written without closures or temporary
 * objects so the fast pass allocates nothing.
 */
function walk(value: unknown, schema: JsonSchema, path: string, sink: string[] | null): boolean {
  const type: unknown = schema.type;
  if (type !== undefined && !typeAllows(type, value)) {
    sink?.push(`${path}: expected ${typeText(type)}, got ${jsonType(value)}`);
    return false;
  }
  let ok = true;

  const allowed: unknown = schema.enum;
  if (Array.isArray(allowed) && !includesJson(allowed, value)) {
    if (!sink) return false;
    ok = false;
    sink.push(`${path}: must be one of ${JSON.stringify(allowed)}`);
  }
  if (Object.hasOwn(schema, "const") && !jsonEqual(schema.const, value)) {
    if (!sink) return false;
    ok = false;
    sink.push(`${path}: must equal ${JSON.stringify(schema.const)}`);
  }

  if (typeof value === "string") {
    const min = num(schema.minLength);
    const max = num(schema.maxLength);
    if (min !== undefined || max !== undefined) {
      const n = codePointLength(value);
      if (min !== undefined && n < min) {
        if (!sink) return false;
        ok = false;
        sink.push(`${path}: must have at least ${min} characters`);
      }
      if (max !== undefined && n > max) {
        if (!sink) return false;
        ok = false;
        sink.push(`${path}: must have at most ${max} characters`);
      }
    }
  } else if (typeof value === "number") {
    const bound = numberBound(value, schema);
    if (bound !== undefined) {
      if (!sink) return false;
      ok = false;
      sink.push(`${path}: ${bound}`);
    }
  } else if (Array.isArray(value)) {
    const min = num(schema.minItems);
    const max = num(schema.maxItems);
    if (min !== undefined && value.length < min) {
      if (!sink) return false;
      ok = false;
      sink.push(`${path}: must have at least ${min} items`);
    }
    if (max !== undefined && value.length > max) {
      if (!sink) return false;
      ok = false;
      sink.push(`${path}: must have at most ${max} items`);
    }
    const items: unknown = schema.items;
    if (isSchema(items)) {
      for (let i = 0; i < value.length; i++) {
        if (!walk(value[i], items, sink ? `${path}[${i}]` : path, sink)) {
          if (!sink) return false;
          ok = false;
        }
      }
    }
  } else if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const required: unknown = schema.required;
    if (Array.isArray(required)) {
      for (const name of required) {
        if (typeof name === "string" && !has(obj, name)) {
          if (!sink) return false;
          ok = false;
          sink.push(`${path}: missing required field '${name}'`);
        }
      }
    }
    const props: unknown = schema.properties;
    const properties = isSchema(props) ? (props as Record<string, unknown>) : undefined;
    const extra: unknown = schema.additionalProperties;
    if (properties !== undefined || extra === false || isSchema(extra)) {
      for (const k in obj) {
        if (!has(obj, k)) continue;
        const declared = properties !== undefined && Object.hasOwn(properties, k);
        const sub: unknown = declared ? properties[k] : extra;
        if (isSchema(sub)) {
          if (!walk(obj[k], sub, sink ? `${path}.${k}` : path, sink)) {
            if (!sink) return false;
            ok = false;
          }
        } else if (!declared && extra === false) {
          if (!sink) return false;
          ok = false;
          sink.push(`${path}: unexpected field '${k}'`);
        }
      }
    }
  }
  return ok;
}

function includesJson(list: readonly unknown[], value: unknown): boolean {
  for (const e of list) if (jsonEqual(e, value)) return true;
  return false;
}

/** The first numeric bound `value` breaks, as text, or undefined. */
function numberBound(value: number, schema: JsonSchema): string | undefined {
  const min = num(schema.minimum);
  if (min !== undefined && value < min) return `must be >= ${min}`;
  const max = num(schema.maximum);
  if (max !== undefined && value > max) return `must be <= ${max}`;
  const xmin = num(schema.exclusiveMinimum);
  if (xmin !== undefined && value <= xmin) return `must be > ${xmin}`;
  const xmax = num(schema.exclusiveMaximum);
  if (xmax !== undefined && value >= xmax) return `must be < ${xmax}`;
  return undefined;
}

/** Validates `value` against `schema`: the list of error lines (empty = valid), each naming its path. */
export function validateSchema(value: unknown, schema: JsonSchema, path = "$"): string[] {
  if (walk(value, schema, path, null)) return [];
  const errors: string[] = [];
  walk(value, schema, path, errors);
  return errors;
}

/** The schema of a node's output map (spec §6.5 writing outputs): an object of the declared outputs. */
export function outputsSchema(outputs: readonly OutputSpec[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const o of outputs) {
    properties[o.name] = o.schema;
    if (o.required) required.push(o.name);
  }
  return { type: "object", properties, required };
}

/**
 * Validates a node's produced outputs against its declared outputs, as `outputsSchema(outputs)` would (spec §5.1,
 * §6.5): 20601 "<nodeId>: <errors>" on failure. Keys that are not declared are not checked (they are not stored).
 */
export function validateOutputs(
  nodeId: string,
  produced: Record<string, unknown>,
  outputs: readonly OutputSpec[],
): void {
  if (outputs.length === 0) return;
  let errors: string[] | null = null;
  for (const o of outputs) {
    if (!has(produced, o.name)) {
      if (o.required) (errors ??= []).push(`$: missing required field '${o.name}'`);
      continue;
    }
    const v = produced[o.name];
    if (walk(v, o.schema, "", null)) continue;
    errors ??= [];
    walk(v, o.schema, `$.${o.name}`, errors);
    if (errors.length >= MAX_REPORTED_ERRORS) break;
  }
  if (errors !== null) {
    throw WorkflowError.of(
      Codes.VARIABLE_POOL_SET_PARAMETER_ERROR,
      `${nodeId}: ${errors.slice(0, MAX_REPORTED_ERRORS).join("; ")}`,
    );
  }
}

/**
 * The JSON types of a customOutput value against a declared schema (spec §4.6): the type keyword at every level
 * of arrays (item types checked) and of the declared object properties that are present. Other keywords
 * (required, enum, bounds) are not a customOutput rule.
 */
function typesMatch(value: unknown, schema: JsonSchema): boolean {
  if (schema.type !== undefined && !typeAllows(schema.type, value)) return false;
  if (Array.isArray(value)) {
    const items: unknown = schema.items;
    if (isSchema(items)) for (const item of value) if (!typesMatch(item, items)) return false;
  } else if (value !== null && typeof value === "object") {
    const props: unknown = schema.properties;
    if (isSchema(props)) {
      const obj = value as Record<string, unknown>;
      for (const k in obj) {
        if (!Object.hasOwn(obj, k) || !Object.hasOwn(props, k)) continue;
        const p: unknown = (props as Record<string, unknown>)[k];
        if (isSchema(p) && !typesMatch(obj[k], p)) return false;
      }
    }
  }
  return true;
}

function findOutput(outputs: readonly OutputSpec[], name: string): OutputSpec | undefined {
  for (const o of outputs) if (o.name === name) return o;
  return undefined;
}

/**
 * spec §4.6: customOutput `{}` becomes the per-output defaults (schema default, else type default); a non-empty one
 * may not name undeclared outputs, must contain every declared output that has no schema default (those with one
 * are filled from it), and its values must have the declared JSON types. Violations → 22101. Returns the filled map
 * in declaration order.
 */
export function checkCustomOutput(
  nodeId: string,
  custom: Record<string, unknown>,
  outputs: readonly OutputSpec[],
): Record<string, unknown> {
  const filled: Record<string, unknown> = {};
  let empty = true;
  for (const key in custom) {
    if (!Object.hasOwn(custom, key)) continue;
    empty = false;
    if (findOutput(outputs, key) === undefined)
      throw customOutputError(nodeId, custom, `'${clipText(key)}' is not a declared output`);
  }
  for (const o of outputs) {
    if (!empty && Object.hasOwn(custom, o.name)) {
      const v = custom[o.name];
      if (!typesMatch(v, o.schema))
        throw customOutputError(nodeId, custom, `'${o.name}' is not of type ${typeText(o.schema.type)}`);
      filled[o.name] = v;
    } else if (empty || (Object.hasOwn(o.schema, "default") && o.schema.default !== undefined)) {
      filled[o.name] = outputDefault(o.schema);
    } else {
      throw customOutputError(nodeId, custom, `missing output '${o.name}'`);
    }
  }
  return filled;
}

function customOutputError(nodeId: string, custom: Record<string, unknown>, reason: string): WorkflowError {
  // the spec's text first (§4.6), then which node and why, for the person fixing the DSL
  return WorkflowError.of(
    Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
    `Node set output content: ${previewJson(custom)} does not match format (${nodeId}: ${reason})`,
  );
}
