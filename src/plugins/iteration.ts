import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { addUsage, zeroUsage } from "../engine/frames.ts";
import { definePlugin } from "../engine/plugin.ts";

const Params = z.object({ IterationStartNodeId: z.string().min(1) });

/**
 * Iteration (spec §5.18): runs its inner graph once per item of its first input, sequentially, each item on a copy
 * of the pool; [new] every item gets its own inner-end result. Outputs: one array per declared output.
 */
export const iteration = definePlugin({
  type: "iteration",
  params: Params,
  errorCode: Codes.ITERATION_EXECUTION_ERROR,
  innerStart: (p) => p.IterationStartNodeId,
  async run(ctx, p) {
    const first = ctx.inputIds[0]?.name ?? Object.keys(ctx.inputs)[0];
    const items = first === undefined ? undefined : ctx.inputs[first];
    if (!Array.isArray(items)) throw WorkflowError.of(Codes.ITERATION_EXECUTION_ERROR, "the iteration input must be an array");
    const collected: Record<string, unknown[]> = {};
    for (const o of ctx.outputs) collected[o.name] = [];
    let usage = zeroUsage();
    for (const item of items) {
      let result;
      try {
        result = await ctx.runSubgraph(p.IterationStartNodeId, { [first as string]: item });
      } catch (e) {
        if (isWorkflowError(e)) throw e;
        throw WorkflowError.of(Codes.ITERATION_EXECUTION_ERROR, e instanceof Error ? e.message : String(e));
      }
      usage = addUsage(usage, result.usage);
      for (const o of ctx.outputs) {
        if (o.name in result.outputs) (collected[o.name] as unknown[]).push(result.outputs[o.name]);
      }
    }
    return { outputs: collected, usage };
  },
});

/** The inner start: the item arrives as its parameters. */
export const iterationStart = definePlugin({
  type: "iteration-node-start",
  params: z.object({}).loose(),
  run: (ctx) => ({ outputs: { ...ctx.parameters }, shownInputs: { ...ctx.parameters } }),
});

/** The inner end: its resolved inputs are the item's result. */
export const iterationEnd = definePlugin({
  type: "iteration-node-end",
  params: z.object({ outputMode: z.number().int().default(0), template: z.string().default("") }).loose(),
  run: (ctx) => ({ outputs: { ...ctx.inputs } }),
});
