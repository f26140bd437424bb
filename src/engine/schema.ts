// A draft-07 subset validator for the JSON-schema keywords the DSL uses (spec §4.4, §6.5), plus the checks of
// declared outputs and customOutput (§4.6). Unknown keywords are ignored; non-JSON-schema types (e.g. biz
// "array-string") or an empty type impose no constraint.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { JsonSchema, OutputSpec } from "./types.ts";
import { jsonType, outputDefault } from "./values.ts";

const KNOWN_TYPES = new Set(["string", "boolean", "integer", "number", "array", "object", "null"]);

function typeMatches(value: unknown, type: string): boolean {
  const t = jsonType(value);
  if (type === "number") return t === "number" || t === "integer";
  return t === type;
}

export function validateSchema(value: unknown, schema: JsonSchema, path = "$"): string[] {
  const errors: string[] = [];
  check(value, schema, path, errors);
  return errors;
}

function check(value: unknown, schema: JsonSchema, path: string, errors: string[]): void {
  const declared = schema.type;
  const types = Array.isArray(declared) ? (declared as unknown[]).filter((t): t is string => typeof t === "string") : typeof declared === "string" ? [declared] : [];
  const constraining = types.filter((t) => KNOWN_TYPES.has(t));
  if (constraining.length > 0 && !constraining.some((t) => typeMatches(value, t))) {
    errors.push(`${path}: expected ${constraining.join(" or ")}, got ${jsonType(value)}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${path}: not one of the allowed values`);
  }
  if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) errors.push(`${path}: must equal the constant`);
  if (typeof value === "string") {
    if (typeof schema.minLength === "number" && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
  } else if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${path}: less than ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${path}: greater than ${schema.maximum}`);
  } else if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    const items = schema.items;
    if (items && typeof items === "object") value.forEach((v, i) => check(v, items, `${path}[${i}]`, errors));
  } else if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    for (const name of Array.isArray(schema.required) ? schema.required : []) {
      if (!(name in obj)) errors.push(`${path}: missing required field '${name}'`);
    }
    const props = schema.properties ?? {};
    for (const [k, v] of Object.entries(obj)) {
      const p = props[k];
      if (p) check(v, p, `${path}.${k}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected field '${k}'`);
      else if (typeof schema.additionalProperties === "object" && schema.additionalProperties !== null) {
        check(v, schema.additionalProperties as JsonSchema, `${path}.${k}`, errors);
      }
    }
  }
}

export function outputsSchema(outputs: readonly OutputSpec[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const o of outputs) {
    properties[o.name] = o.schema;
    if (o.required) required.push(o.name);
  }
  return { type: "object", properties, required };
}

/** Validates a node's produced outputs against its declared outputs (spec §6.5): 20601 on failure. */
export function validateOutputs(nodeId: string, produced: Record<string, unknown>, outputs: readonly OutputSpec[]): void {
  const errors: string[] = [];
  for (const o of outputs) {
    if (!(o.name in produced)) {
      if (o.required) errors.push(`$: missing required field '${o.name}'`);
      continue;
    }
    check(produced[o.name], o.schema, `$.${o.name}`, errors);
    if (errors.length >= 3) break;
  }
  if (errors.length > 0) throw WorkflowError.of(Codes.VARIABLE_POOL_SET_PARAMETER_ERROR, `${nodeId}: ${errors.slice(0, 3).join("; ")}`);
}

/**
 * spec §4.6: customOutput `{}` becomes the per-output defaults; a non-empty one may not name undeclared outputs,
 * must contain every declared output without a schema default, and must match the declared types.
 */
export function checkCustomOutput(nodeId: string, custom: Record<string, unknown>, outputs: readonly OutputSpec[]): Record<string, unknown> {
  const filled: Record<string, unknown> = {};
  const bad = (): never => {
    throw WorkflowError.of(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `Node set output content: ${JSON.stringify(custom)} does not match format (${nodeId})`);
  };
  const empty = Object.keys(custom).length === 0;
  for (const key of Object.keys(custom)) if (!outputs.some((o) => o.name === key)) bad();
  for (const o of outputs) {
    if (o.name in custom) {
      if (validateSchema(custom[o.name], o.schema).length > 0) bad();
      filled[o.name] = custom[o.name];
    } else if (empty || "default" in o.schema) {
      filled[o.name] = outputDefault(o.schema);
    } else {
      bad();
    }
  }
  return filled;
}
