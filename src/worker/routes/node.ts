// Node debug (spec §1.5.11) and the code-run routes (§1.5.12; the code node arrives with the tool plugins).
import { Hono } from "hono";
import { z } from "zod";
import { Codes, createGuardedFetch, debugNode, systemClock, toWorkflowError, WorkflowError } from "../../engine/index.ts";
import { registry } from "../../plugins/index.ts";
import { body, type Ctx } from "../context.ts";
import { pluginConfig, type AppEnv } from "../env.ts";
import { success } from "../envelope.ts";

const NodeDebugBody = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string().default(""),
  data: z.object({ nodes: z.array(z.unknown()).min(1), edges: z.array(z.unknown()).default([]) }).loose(),
});

const CodeRunBody = z.object({
  code: z.string().min(1),
  variables: z.array(z.object({ name: z.string().min(1), content: z.unknown() })).default([]),
  app_id: z.string().min(1),
  uid: z.string().min(1),
  flow_id: z.string().default(""),
});

export const node = new Hono<AppEnv>();

node.post("/node/debug", async (c) => {
  const b = await body(c, NodeDebugBody);
  const sid = c.get("sid");
  const memory = new Map<string, Record<string, unknown>>();
  try {
    const result = await debugNode(b.data, {
      registry,
      info: { sid, eventId: "", flowId: b.id, appId: c.get("appId") ?? "", uid: "", chatId: "", isRelease: false, history: [] },
      clock: systemClock,
      fetch: createGuardedFetch(fetch, { allowPrivate: c.env.ALLOW_PRIVATE_FETCH === "true" }),
      kv: {
        hgetall: async (key) => memory.get(key) ?? {},
        hset: async (key, fields) => void memory.set(key, { ...(memory.get(key) ?? {}), ...fields }),
      },
      config: pluginConfig(c.env),
    });
    return success(sid, result);
  } catch (e) {
    throw toWorkflowError(e, Codes.NODE_DEBUG_ERROR);
  }
});

const codeRun = async (c: Ctx): Promise<Response> => {
  await body(c, CodeRunBody);
  if (!c.env.CODE_EXEC_URL) throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "no code executor is configured (CODE_EXEC_URL)");
  throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "the code node is not available in this build");
};
node.post("/code/run", codeRun);
node.post("/run", codeRun);
