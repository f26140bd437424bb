// Reading a ref input from the variable pool (spec §6.5): the first segment is an output name, each further
// segment is resolved against the referenced node's DECLARED schema (objects by key, arrays of objects mapped).
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { JsonSchema, OutputSpec } from "./types.ts";
import { outputDefault, typeDefault } from "./values.ts";

const IMPLICIT: Record<string, JsonSchema> = {
  errorCode: { type: "integer", default: 0 },
  errorMessage: { type: "string", default: "" },
};

export function splitRefPath(path: string): string[] {
  return path.split(".");
}

export function resolveRefPath(nodeId: string, values: Record<string, unknown>, outputs: readonly OutputSpec[], path: string): unknown {
  return resolveRefSegments(nodeId, values, outputs, splitRefPath(path));
}

export function resolveRefSegments(nodeId: string, values: Record<string, unknown>, outputs: readonly OutputSpec[], segments: readonly string[]): unknown {
  const name = segments[0] ?? "";
  let schema: JsonSchema | undefined = outputs.find((o) => o.name === name)?.schema ?? IMPLICIT[name];
  let current: unknown;
  if (Object.prototype.hasOwnProperty.call(values, name)) current = values[name];
  else if (schema) current = outputDefault(schema);
  else throw WorkflowError.of(Codes.VARIABLE_POOL_GET_PARAMETER_ERROR, `Node ${nodeId} does not have value ${name}`);
  for (let i = 1; i < segments.length; i++) {
    const key = segments[i] as string;
    if (!schema) return current;
    if (schema.type === "object") {
      const prop: JsonSchema | undefined = schema.properties?.[key];
      if (!prop) throw WorkflowError.of(Codes.VARIABLE_POOL_GET_PARAMETER_ERROR, `Node ${nodeId} does not have value ${key}`);
      const obj = current;
      const v = obj !== null && typeof obj === "object" && !Array.isArray(obj) ? (obj as Record<string, unknown>)[key] : undefined;
      current = v === undefined ? typeDefault(prop.type) : v;
      schema = prop;
    } else if (schema.type === "array" && schema.items?.type === "object") {
      const prop: JsonSchema | undefined = schema.items.properties?.[key];
      if (!prop) throw WorkflowError.of(Codes.VARIABLE_POOL_GET_PARAMETER_ERROR, `Node ${nodeId} does not have value ${key}`);
      const list = Array.isArray(current) ? current : [];
      current = list.map((item) => {
        const v = item !== null && typeof item === "object" ? (item as Record<string, unknown>)[key] : undefined;
        return v === undefined ? typeDefault(prop.type) : v;
      });
      // deeper segments keep mapping over the array of property values
      schema = { type: "array", items: prop };
    } else if (schema.type === "array" && schema.items?.type === "array") {
      return current;
    } else {
      return current;
    }
  }
  return current;
}
