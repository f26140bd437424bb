import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";

const Params = z.object({
  mode: z.union([z.literal(0), z.literal(1)]).default(0),
  prompt: z.string().default(""),
  separator: z.string().default(""),
});

/** Text processing (spec §5.6): join renders `prompt` into the first output; split cuts the last input. */
export default definePlugin({
  type: "text-joiner",
  params: Params,
  errorCode: Codes.TEXT_JOINER_NODE_EXECUTION_ERROR,
  run: (ctx, p) => {
    const name = ctx.outputs[0]?.name ?? "output";
    if (p.mode === 0) {
      const text = ctx.render(p.prompt, "json");
      return { outputs: { [name]: text }, rawOutput: text };
    }
    const values = Object.values(ctx.inputs);
    const last = values[values.length - 1];
    if (typeof last !== "string") throw WorkflowError.of(Codes.TEXT_JOINER_NODE_EXECUTION_ERROR, "split needs a string input");
    if (p.separator === "") throw WorkflowError.of(Codes.TEXT_JOINER_NODE_EXECUTION_ERROR, "separator must not be empty");
    const parts = last.split(p.separator);
    return { outputs: { [name]: parts }, rawOutput: JSON.stringify(parts) };
  },
});
