// Publishing and licences (spec §1.5.14, §1.5.15, §9.3).
import { Hono } from "hono";
import * as z from "zod";
import { Codes, toWorkflowError } from "../../engine/index.ts";
import { appId, body, cache, catalog, idString, licenceKey } from "../context.ts";
import type { AppEnv } from "../env.ts";
import { success } from "../envelope.ts";
import { validateDsl } from "../validate.ts";
import { flowKeys, invalidateFlow } from "../store/cache.ts";

const Envelope = z.object({
  id: z.union([z.string().min(1), z.number()]),
  name: z.string().min(1),
  description: z.string().default(""),
  version: z.string().regex(/^v3(\.\d+)*(\.\d+)$/),
  data: z.object({ nodes: z.array(z.unknown()).min(2), edges: z.array(z.unknown()) }).loose(),
});

export const PublishBody = z.object({
  flow_id: idString,
  release_status: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  plat: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(4)]).default(0),
  version: z.string().default(""),
  data: Envelope.optional().nullable(),
});

export const AuthBody = z.object({ flow_id: idString, app_id: z.string().min(1) });

export const publish = new Hono<AppEnv>();

publish.post("/publish", async (c) => {
  const tenant = appId(c);
  const b = await body(c, PublishBody);
  const store = cache(c);
  await store.del(flowKeys(b.flow_id));
  if (b.data) {
    try {
      validateDsl(b.data);
    } catch (e) {
      throw toWorkflowError(e, Codes.FLOW_PUBLISH_ERROR);
    }
  }
  await catalog(c).publish({
    tenantAlias: tenant,
    flowId: b.flow_id,
    op: b.release_status,
    plat: b.plat,
    version: b.version,
    data: b.data ?? null,
  });
  await invalidateFlow(store, b.flow_id, b.version || undefined);
  return success(c.get("sid"));
});

publish.post("/auth", async (c) => {
  const tenant = appId(c);
  const b = await body(c, AuthBody);
  try {
    await catalog(c).authorize(tenant, b.flow_id, b.app_id);
    // spec §7.2: the licence cache is invalidated by /v1/auth
    const flow = await catalog(c).requireFlow(b.flow_id);
    await cache(c).del([licenceKey(b.app_id, flow.group_id)]);
  } catch (e) {
    throw toWorkflowError(e, Codes.APP_FLOW_AUTH_BOND_ERROR);
  }
  return success(c.get("sid"));
});
