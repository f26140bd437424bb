import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { definePlugin } from "../engine/plugin.ts";

const Params = z.object({
  template: z.string(),
  streamOutput: z.boolean().default(false),
});

/**
 * The message node (spec §5.5): like the end node in prompt mode, without a reasoning template. Its text is part
 * of the answer; it produces no outputs. When it lies only on untaken branches it ends silently.
 */
export default definePlugin({
  type: "message",
  params: Params,
  errorCode: Codes.MESSAGE_NODE_EXECUTION_ERROR,
  answer: (p) => ({ mode: 1, template: p.template, reasoningTemplate: "", streamOutput: p.streamOutput, isEnd: false }),
  run: () => ({ outputs: {} }),
});
