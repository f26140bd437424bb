import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";
import { validateSchema } from "../engine/schema.ts";
import type { OutputSpec } from "../engine/types.ts";
import { jsonType, outputDefault } from "../engine/values.ts";

/** The JSON type of `value` is the declared one (a JSON "number" also accepts integers, as draft-07 does). */
function typeMatches(value: unknown, type: unknown): boolean {
  const actual = jsonType(value);
  if (type === "number") return actual === "number" || actual === "integer";
  return actual === type;
}

function fail(detail: string): never {
  throw WorkflowError.of(Codes.START_NODE_SCHEMA_ERROR, detail);
}

/**
 * spec §5.2: the request's `parameters` are validated against the schema the start outputs make (their types and
 * `required`, no other keys). Any violation is 22500, with English messages [new]. A value the schema lets through
 * is stored only if its JSON type is the declared one (an output without a JSON type keeps its default).
 */
export function startValues(
  outputs: readonly OutputSpec[],
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  const declared = new Map(outputs.map((o) => [o.name, o]));
  for (const key of Object.keys(parameters)) {
    if (!declared.has(key)) fail(`unknown parameter: ${key}`);
  }
  const values: Record<string, unknown> = {};
  for (const o of outputs) {
    if (!Object.prototype.hasOwnProperty.call(parameters, o.name)) {
      if (o.required) fail(`missing required field: '${o.name}'`);
      values[o.name] = outputDefault(o.schema);
      continue;
    }
    const value = parameters[o.name];
    const errors = validateSchema(value, o.schema, o.name);
    if (errors.length > 0) fail(errors.join("; "));
    values[o.name] = typeMatches(value, o.schema.type) ? value : outputDefault(o.schema);
  }
  return values;
}

/**
 * The start node (spec §5.2): the validated parameters become its output variables; its end frame shows the
 * supplied values under `inputs` (and `{}` under `outputs`). File parameters (§8.3) are checked by the worker.
 */
export default definePlugin({
  type: "node-start",
  params: z.object({}),
  // a pure function of its inputs: safe to run again after a restart
  idempotent: true,
  errorCode: Codes.START_NODE_SCHEMA_ERROR,
  run: (ctx) => ({ outputs: startValues(ctx.outputs, ctx.parameters), shownInputs: { ...ctx.parameters } }),
});
