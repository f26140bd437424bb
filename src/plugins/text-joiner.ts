import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";
import { pythonJson } from "../engine/template.ts";

/** nodeParam of spec §5.6: mode 0 joins (renders `prompt`), mode 1 splits (on `separator`). */
export const TextJoinerParams = z.object({
  mode: z.union([z.literal(0), z.literal(1)]).default(0),
  prompt: z.string().default(""),
  separator: z.string().default(""),
});

function fail(detail: string): never {
  throw WorkflowError.of(Codes.TEXT_JOINER_NODE_EXECUTION_ERROR, detail);
}

/** Text processing (spec §5.6): join renders `prompt` into the first output; split cuts the last input. */
export default definePlugin({
  type: "text-joiner",
  params: TextJoinerParams,
  // a pure function of its inputs: safe to run again after a restart
  idempotent: true,
  errorCode: Codes.TEXT_JOINER_NODE_EXECUTION_ERROR,
  run: (ctx, p) => {
    const name = ctx.outputs[0]?.name ?? "output";
    if (p.mode === 0) {
      const text = ctx.render(p.prompt, "json");
      return { outputs: { [name]: text }, rawOutput: text };
    }
    const names = Object.keys(ctx.inputs);
    const last = names[names.length - 1];
    if (last === undefined) fail("split needs an input");
    const value = ctx.inputs[last];
    if (typeof value !== "string") fail(`split needs a string, input ${last} is not one`);
    if (p.separator === "") fail("the separator must not be empty");
    const parts = value.split(p.separator);
    // raw_output is the JSON of the array, with the original's json.dumps spacing
    return { outputs: { [name]: parts }, rawOutput: pythonJson(parts) };
  },
});
