import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";
import { jsonType, outputDefault } from "../engine/values.ts";

function typeOk(value: unknown, type: string | undefined): boolean {
  const t = jsonType(value);
  if (type === "number") return t === "number" || t === "integer";
  return t === type;
}

/**
 * The start node (spec §5.2): the request's `parameters` become its outputs. Every key must be a declared output
 * and every required output must be present (22500, English messages [new]); a value whose JSON type does not
 * match its declaration is not stored (the default remains).
 */
export default definePlugin({
  type: "node-start",
  params: z.object({}).loose(),
  errorCode: Codes.START_NODE_SCHEMA_ERROR,
  run: (ctx) => {
    const declared = new Map(ctx.outputs.map((o) => [o.name, o]));
    for (const key of Object.keys(ctx.parameters)) {
      if (!declared.has(key)) throw WorkflowError.of(Codes.START_NODE_SCHEMA_ERROR, `unknown parameter: '${key}'`);
    }
    const outputs: Record<string, unknown> = {};
    for (const o of ctx.outputs) {
      const supplied = Object.prototype.hasOwnProperty.call(ctx.parameters, o.name);
      if (!supplied) {
        if (o.required) throw WorkflowError.of(Codes.START_NODE_SCHEMA_ERROR, `missing required field: '${o.name}'`);
        outputs[o.name] = outputDefault(o.schema);
        continue;
      }
      const value = ctx.parameters[o.name];
      outputs[o.name] = typeOk(value, o.schema.type) ? value : outputDefault(o.schema);
    }
    return { outputs, shownInputs: { ...ctx.parameters } };
  },
});
