import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";
import { outputDefault } from "../engine/values.ts";

const Params = z.object({ method: z.enum(["set", "get"]), flowId: z.string() });

/** Variable storage (spec §5.19): a hash per (flow, uid, app, chat); JSON values [new]; same key layout. */
export default definePlugin({
  type: "node-variable",
  params: Params,
  errorCode: Codes.VARIABLE_NODE_EXECUTION_ERROR,
  async run(ctx, p) {
    const key = `sparkflowV2:variable_pool:${p.flowId}:${ctx.run.uid}:${ctx.run.appId}:${ctx.run.chatId}`;
    try {
      if (p.method === "set") {
        await ctx.kv.hset(key, { ...ctx.inputs });
        return { outputs: {} };
      }
      const stored = await ctx.kv.hgetall(key);
      const outputs: Record<string, unknown> = {};
      for (const o of ctx.outputs) outputs[o.name] = o.name in stored ? stored[o.name] : outputDefault(o.schema);
      return { outputs };
    } catch (e) {
      if (isWorkflowError(e)) throw e;
      throw WorkflowError.of(Codes.VARIABLE_NODE_EXECUTION_ERROR, e instanceof Error ? e.message : String(e));
    }
  },
});
