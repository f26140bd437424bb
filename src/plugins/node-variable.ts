import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type RunInfo } from "../engine/plugin.ts";
import { outputDefault } from "../engine/values.ts";

/** nodeParam of spec §5.19; `flowId` is filled in when the node is placed in a flow. */
export const NodeVariableParams = z.object({ method: z.enum(["set", "get"]), flowId: z.string() });

/** The original's hash key, kept for compatibility: it ends in ':' when the chat id is empty (spec §5.19). */
export function variableKey(flowId: string, run: Pick<RunInfo, "uid" | "appId" | "chatId">): string {
  return `sparkflowV2:variable_pool:${flowId}:${run.uid}:${run.appId}:${run.chatId}`;
}

/** Variable storage (spec §5.19): `set` stores every input under its name, `get` reads the declared outputs. Values are JSON [new]. */
export default definePlugin({
  type: "node-variable",
  params: NodeVariableParams,
  // a read, or a write of the same fields again: safe to run again after a restart
  idempotent: true,
  errorCode: Codes.VARIABLE_NODE_EXECUTION_ERROR,
  async run(ctx, p) {
    const key = variableKey(p.flowId, ctx.run);
    try {
      if (p.method === "set") {
        await ctx.kv.hset(key, { ...ctx.inputs });
        return { outputs: {} };
      }
      const stored = await ctx.kv.hgetall(key);
      const outputs: Record<string, unknown> = {};
      for (const o of ctx.outputs) {
        outputs[o.name] = Object.prototype.hasOwnProperty.call(stored, o.name)
          ? stored[o.name]
          : outputDefault(o.schema);
      }
      return { outputs };
    } catch (e) {
      // every storage failure is this node's 22900, whatever the adapter raised
      if (isWorkflowError(e) && e.code === Codes.VARIABLE_NODE_EXECUTION_ERROR) throw e;
      // the adapter's text (Redis, D1) is storage internals: it goes to the log, not into frames (issue 13)
      console.log(`[node-variable] storage failed: ${e instanceof Error ? e.message : String(e)}`);
      throw WorkflowError.of(Codes.VARIABLE_NODE_EXECUTION_ERROR, "variable storage failed");
    }
  },
});
