import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { definePlugin } from "../engine/plugin.ts";

const Params = z.object({
  outputMode: z.union([z.literal(0), z.literal(1)]),
  template: z.string().default(""),
  reasoningTemplate: z.string().default(""),
  streamOutput: z.boolean().default(false),
});

/**
 * The end node (spec §5.4). The engine renders and streams its answer (§6.6); its result is the run's result:
 * its outputs are its resolved inputs.
 */
export default definePlugin({
  type: "node-end",
  params: Params,
  errorCode: Codes.END_NODE_EXECUTION_ERROR,
  answer: (p) => ({
    mode: p.outputMode,
    template: p.template,
    reasoningTemplate: p.reasoningTemplate,
    streamOutput: p.streamOutput,
    isEnd: true,
  }),
  run: (ctx) => ({ outputs: { ...ctx.inputs } }),
});
