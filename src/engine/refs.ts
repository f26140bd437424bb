// Reading a ref input from the variable pool (spec §6.5): the first segment is an output name, each further
// segment is resolved against the referenced node's DECLARED schema (objects by key, arrays of objects mapped).
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { JsonSchema, OutputSpec } from "./types.ts";
import { outputDefault, typeDefault } from "./values.ts";

// spec §4.4: every node has these two outputs, filled by the error strategies (§6.7)
const ERROR_CODE: JsonSchema = Object.freeze({ type: "integer", default: 0 });
const ERROR_MESSAGE: JsonSchema = Object.freeze({ type: "string", default: "" });

/** The declared schema of output `name`, the implicit error outputs included; undefined when not declared. */
function outputSchema(outputs: readonly OutputSpec[], name: string): JsonSchema | undefined {
  for (const o of outputs) if (o.name === name) return o.schema;
  if (name === "errorCode") return ERROR_CODE;
  if (name === "errorMessage") return ERROR_MESSAGE;
  return undefined;
}

/** Whether a ref may name output `name`: a declared output or one of the implicit error outputs (spec §4.4). */
export function isDeclaredOutput(outputs: readonly OutputSpec[], name: string): boolean {
  return outputSchema(outputs, name) !== undefined;
}

function noValue(nodeId: string, name: string): WorkflowError {
  return WorkflowError.of(Codes.VARIABLE_POOL_GET_PARAMETER_ERROR, `Node ${nodeId} does not have value ${name}`);
}

/** The declared property `key` of an object schema, own keys only ("constructor" is not declared by accident). */
function property(schema: JsonSchema | undefined, key: string): JsonSchema | undefined {
  const props = schema?.properties;
  if (props === undefined || props === null || typeof props !== "object" || !Object.hasOwn(props, key))
    return undefined;
  const p: unknown = props[key];
  return p !== null && typeof p === "object" && !Array.isArray(p) ? (p as JsonSchema) : undefined;
}

function member(obj: unknown, key: string, fallback: JsonSchema): unknown {
  if (obj !== null && typeof obj === "object" && !Array.isArray(obj) && Object.hasOwn(obj, key)) {
    const v = (obj as Record<string, unknown>)[key];
    if (v !== undefined) return v;
  }
  return typeDefault(fallback.type);
}

/** A ref's `name` split into its segments: "result.items.title" → ["result", "items", "title"]. */
export function splitRefPath(path: string): string[] {
  return path.split(".");
}

/** Resolves a ref's dotted `name` (spec §6.5). Prefer `resolveRefSegments` with pre-split segments on hot paths. */
export function resolveRefPath(
  nodeId: string,
  values: Record<string, unknown>,
  outputs: readonly OutputSpec[],
  path: string,
): unknown {
  return resolveRefSegments(nodeId, values, outputs, splitRefPath(path));
}

/**
 * spec §6.5 reading an input: the first segment names an output of node `nodeId` (its value, or its default when
 * unset; 20600 when neither declared nor set). Each further segment goes through the declared schema:
 *   - object schema: the key must be declared in `properties` (else 20600); missing → the property's type default;
 *   - array schema whose items are objects: the key must be declared in `items.properties`; the result is the array
 *     of item[key], and the schema becomes "array of that property" so deeper keys keep mapping;
 *   - anything else (or no declared schema): the current value is returned as it is.
 * Values come from the pool by reference; a caller that hands them to a plugin copies them if it must.
 */
export function resolveRefSegments(
  nodeId: string,
  values: Record<string, unknown>,
  outputs: readonly OutputSpec[],
  segments: readonly string[],
): unknown {
  const name = segments[0] ?? "";
  let schema = outputSchema(outputs, name);
  // an own value that is undefined counts as unset, as it would after a JSON round trip
  let current: unknown = Object.hasOwn(values, name) ? values[name] : undefined;
  if (current === undefined) {
    if (schema === undefined) throw noValue(nodeId, name);
    current = outputDefault(schema);
  }

  for (let i = 1; i < segments.length; i++) {
    if (schema === undefined) return current;
    const key = segments[i] as string;
    if (schema.type === "object") {
      const prop = property(schema, key);
      if (prop === undefined) throw noValue(nodeId, key);
      current = member(current, key, prop);
      schema = prop;
    } else if (schema.type === "array" && schema.items?.type === "object") {
      const prop = property(schema.items, key);
      if (prop === undefined) throw noValue(nodeId, key);
      const list = Array.isArray(current) ? current : [];
      const mapped: unknown[] = new Array(list.length);
      for (let j = 0; j < list.length; j++) mapped[j] = member(list[j], key, prop);
      current = mapped;
      // deeper segments keep mapping over the array of property values
      schema = { type: "array", items: prop };
    } else {
      return current;
    }
  }
  return current;
}
