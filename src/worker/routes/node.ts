// Node debug (spec §1.5.11) and the code-run routes (§1.5.12; the code node arrives with the tool plugins).
import { Hono } from "hono";
import * as z from "zod";
import {
  Codes,
  createGuardedFetch,
  debugNode,
  systemClock,
  toWorkflowError,
  WorkflowError,
} from "../../engine/index.ts";
import { createJsSandbox } from "../../durable/js-sandbox.ts";
import { createSqlPort } from "../../durable/sql.ts";
import { runCodeSnippet } from "../../plugins/ifly-code.ts";
import { registry } from "../../plugins/index.ts";
import { appId, body, type Ctx } from "../context.ts";
import { bodyAppId } from "../owner.ts";
import { pluginConfig, type AppEnv } from "../env.ts";
import { success } from "../envelope.ts";

export const NodeDebugBody = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string().default(""),
  data: z.object({ nodes: z.array(z.unknown()).min(1), edges: z.array(z.unknown()).default([]) }).loose(),
});

export const CodeRunBody = z.object({
  code: z.string().min(1),
  variables: z.array(z.object({ name: z.string().min(1), content: z.unknown() })).default([]),
  app_id: z.string().min(1),
  uid: z.string().min(1),
  flow_id: z.string().default(""),
  // [new] the JavaScript code node's language; the original only runs Python
  codeLanguage: z.enum(["python", "javascript", "js"]).default("python"),
});

export const node = new Hono<AppEnv>();

node.post("/node/debug", async (c) => {
  const app = appId(c);
  const b = await body(c, NodeDebugBody);
  const sid = c.get("sid");
  const memory = new Map<string, Record<string, unknown>>();
  try {
    const result = await debugNode(b.data, {
      registry,
      info: { sid, eventId: "", flowId: b.id, appId: app, uid: "", chatId: "", isRelease: false, history: [] },
      clock: systemClock,
      fetch: createGuardedFetch(fetch, { allowPrivate: c.env.ALLOW_PRIVATE_FETCH === "true" }),
      kv: {
        hgetall: async (key) => memory.get(key) ?? {},
        hset: async (key, fields) => void memory.set(key, { ...(memory.get(key) ?? {}), ...fields }),
      },
      sandbox: createJsSandbox(),
      sql: createSqlPort(c.env),
      // a sub-flow node in a debugged node acts for the caller only (issue 13)
      config: { ...pluginConfig(c.env), SUBFLOW_APP: app },
    });
    return success(sid, result);
  } catch (e) {
    throw toWorkflowError(e, Codes.NODE_DEBUG_ERROR);
  }
});

// spec §1.5.12: the code node's runner with the variables as main's arguments; data = the decoded result
const codeRun = async (c: Ctx): Promise<Response> => {
  const b = await body(c, CodeRunBody);
  // issue 13: the code runs for the authenticated app only, whatever the body names
  bodyAppId(c, b.app_id);
  const variables: Record<string, unknown> = {};
  for (const v of b.variables) variables[v.name] = v.content;
  const data = await runCodeSnippet(
    {
      fetch: createGuardedFetch(fetch, { allowPrivate: c.env.ALLOW_PRIVATE_FETCH === "true" }),
      clock: systemClock,
      signal: c.req.raw.signal,
      config: pluginConfig(c.env),
      sandbox: createJsSandbox(),
    },
    { code: b.code, language: b.codeLanguage, variables, appId: b.app_id, uid: b.uid },
  );
  return success(c.get("sid"), data);
};
node.post("/code/run", codeRun);
node.post("/run", codeRun);
