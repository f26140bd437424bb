import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { addUsage, zeroUsage } from "../engine/frames.ts";
import { definePlugin, type SubgraphResult } from "../engine/plugin.ts";

/** nodeParam of spec §5.18: the id of the inner start node (filled in when the inner graph is created). */
export const IterationParams = z.object({ IterationStartNodeId: z.string().min(1) });

function fail(detail: string): never {
  throw WorkflowError.of(Codes.ITERATION_EXECUTION_ERROR, detail);
}

/**
 * Iteration (spec §5.18): runs its inner graph once per item of its first input, sequentially; the inner start
 * receives `{<input name>: item}` (its first output is named like that input). [new] Every item gets its own
 * inner-end result. Outputs: for each declared output, the array of that name's values across the items.
 */
export const iteration = definePlugin({
  type: "iteration",
  params: IterationParams,
  errorCode: Codes.ITERATION_EXECUTION_ERROR,
  innerStart: (p) => p.IterationStartNodeId,
  check: (_p, node) => {
    if (node.inputs.length === 0) {
      throw WorkflowError.of(
        Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
        `node ${node.id}: an iteration needs its array input`,
      );
    }
  },
  async run(ctx, p) {
    // inputs arrive in declaration order; the first one is the array (spec §5.18)
    const name = Object.keys(ctx.inputs)[0];
    if (name === undefined) fail("the iteration has no input");
    const items = ctx.inputs[name];
    if (!Array.isArray(items)) fail(`the iteration input ${name} must be an array`);
    const collected: Record<string, unknown[]> = {};
    for (const o of ctx.outputs) collected[o.name] = [];
    let usage = zeroUsage();
    for (const item of items) {
      let result: SubgraphResult;
      try {
        result = await ctx.runSubgraph(p.IterationStartNodeId, { [name]: item });
      } catch (e) {
        // spec §5.18 — an inner failure fails the iteration, with the inner code when it has one
        if (isWorkflowError(e)) throw e;
        fail(clientText(e));
      }
      usage = addUsage(usage, result.usage);
      for (const o of ctx.outputs) {
        if (Object.prototype.hasOwnProperty.call(result.outputs, o.name))
          collected[o.name]?.push(result.outputs[o.name]);
      }
    }
    return { outputs: collected, usage };
  },
});

/** The inner start: the engine hands it the item as its parameters; no unknown-key rule here. */
export const iterationStart = definePlugin({
  type: "iteration-node-start",
  params: z.object({}),
  run: (ctx) => ({ outputs: { ...ctx.parameters }, shownInputs: { ...ctx.parameters } }),
});

/** nodeParam of the inner end (spec §5.18): `outputMode` is required as on the end node. */
export const IterationEndParams = z.object({ outputMode: z.number().int(), template: z.string().default("") });

/** The inner end: its resolved inputs are the item's result, which the engine collects. */
export const iterationEnd = definePlugin({
  type: "iteration-node-end",
  params: IterationEndParams,
  run: (ctx) => ({ outputs: { ...ctx.inputs } }),
});
