// Flow records (spec §1.5.4–1.5.10): add, get, update, delete, build, comparisons, get_flow_info.
import { Hono } from "hono";
import * as z from "zod";
import { Codes, toWorkflowError, WorkflowError } from "../../engine/index.ts";
import { buildEndFrame, buildErrorFrame, SSE_HEADERS, sseEncode } from "../../engine/sse.ts";
import { appId, body, cache, catalog, idString, type Ctx } from "../context.ts";
import { bodyAppId, ownFlow } from "../owner.ts";
import type { AppEnv } from "../env.ts";
import { success } from "../envelope.ts";
import { validateDsl } from "../validate.ts";
import { newId } from "../ids.ts";
import { startOutputs } from "../start-outputs.ts";
import { invalidateFlow } from "../store/cache.ts";
import type { FlowRow } from "../store/catalog.ts";

export const AddBody = z.object({
  name: z.string().default(""),
  description: z.string().default(""),
  app_id: z.string().default(""),
  status: z.number().int().default(0),
  data: z.unknown().optional(),
});

export const UpdateBody = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  data: z.unknown().optional(),
  app_id: z.string().optional(),
  status: z.number().int().optional(),
});

export const FlowIdBody = z.object({ flow_id: idString, app_id: z.string().optional() });
export const CompareSaveBody = z.object({
  flow_id: idString,
  data: z.record(z.string(), z.unknown()),
  version: z.string().min(1),
});
export const CompareDeleteBody = z.object({ flow_id: idString, version: z.string().min(1) });
export const DeleteBody = z.object({ flow_id: idString, app_id: z.string().default("") });

function hasNodes(data: unknown): boolean {
  return typeof data === "object" && data !== null && Object.keys(data).length > 0;
}

/** spec §1.5.5 [new]: the row as an object, ids as strings. */
export function flowObject(f: FlowRow): Record<string, unknown> {
  return { ...f };
}

/** Re-codes generic failures of a route with its own code (spec §4.10: 20102 add, 20104 update…). */
async function withCode<T>(code: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    const err = toWorkflowError(e, code);
    throw err;
  }
}

export const protocol = new Hono<AppEnv>();

protocol.post("/protocol/add", async (c) => {
  const b = await body(c, AddBody);
  if (b.status !== 0 && b.status !== 1)
    throw WorkflowError.of(Codes.PROTOCOL_CREATE_ERROR, "status value can only be 0 or 1");
  const cat = catalog(c);
  // issue 13: a flow belongs to the caller's app; a body naming another app is refused
  const owner = bodyAppId(c, b.app_id);
  const app = await cat.app(owner);
  // spec §1.5.4: an app named in the body must exist (20000); a gateway caller's app may have no row yet
  if (b.app_id && !app) throw WorkflowError.of(Codes.APP_NOT_FOUND_ERROR, owner);
  // [new] validate before inserting (the original committed the row first)
  if (hasNodes(b.data))
    await withCode(Codes.PROTOCOL_CREATE_ERROR, async () => validateDsl(b.data, Codes.PROTOCOL_CREATE_ERROR));
  const id = newId();
  await cat.createFlow({
    id,
    name: b.name,
    description: b.description,
    appId: owner,
    status: b.status,
    data: b.data ?? null,
    source: app?.actual_source ?? 0,
  });
  return success(c.get("sid"), { flow_id: id });
});

protocol.post("/protocol/get", async (c) => {
  const b = await body(c, FlowIdBody);
  bodyAppId(c, b.app_id);
  const flow = await ownFlow(c, b.flow_id);
  return success(c.get("sid"), flowObject(flow));
});

protocol.post("/protocol/update/:flow_id", async (c) => {
  const flowId = c.req.param("flow_id");
  const b = await body(c, UpdateBody);
  const cat = catalog(c);
  // issue 13: only the owner updates a flow, and it cannot hand the flow to another app
  const owner = bodyAppId(c, b.app_id);
  const flow = await ownFlow(c, flowId);
  await invalidateFlow(cache(c), flowId);
  if (hasNodes(b.data))
    await withCode(Codes.PROTOCOL_UPDATE_ERROR, async () => validateDsl(b.data, Codes.PROTOCOL_UPDATE_ERROR));
  if (flow.status > 0 || (b.status ?? 0) > 0) {
    const app = await cat.app(owner);
    if (app) await cat.bindLicence(app.id, flow.group_id);
  }
  await withCode(Codes.PROTOCOL_UPDATE_ERROR, () =>
    cat.updateFlow(flowId, {
      name: b.name,
      description: b.description,
      data: b.data,
      status: b.status,
    }),
  );
  return success(c.get("sid"));
});

protocol.post("/protocol/delete", async (c) => {
  const b = await body(c, DeleteBody);
  // spec §1.5.6: the row goes only when `app_id` owns it (20103 otherwise); issue 13: and only when that app is the
  // caller, so another app's flow answers like a missing one
  const owner = appId(c);
  const deleted =
    (!b.app_id || b.app_id === owner) &&
    (await withCode(Codes.PROTOCOL_DELETE_ERROR, () => catalog(c).deleteFlow(b.flow_id, owner)));
  if (!deleted) throw WorkflowError.of(Codes.PROTOCOL_DELETE_ERROR, `flow ${b.flow_id} of app ${owner} not found`);
  await invalidateFlow(cache(c), b.flow_id);
  return success(c.get("sid"));
});

/** spec §1.5.8, §1.3 [new]: a `"<code>: <message>"` frame on failure, then always the end frame. */
protocol.post("/protocol/build/:flow_id", async (c) => {
  const sid = c.get("sid");
  const frames: string[] = [];
  try {
    const flow = await ownFlow(c, c.req.param("flow_id"));
    validateDsl(flow.data, Codes.PROTOCOL_BUILD_ERROR);
  } catch (e) {
    frames.push(sseEncode(buildErrorFrame(toWorkflowError(e, Codes.PROTOCOL_BUILD_ERROR).toData())));
  }
  frames.push(sseEncode(buildEndFrame(sid)));
  return new Response(frames.join(""), { headers: SSE_HEADERS });
});

const compareSave = async (c: Ctx): Promise<Response> => {
  const b = await body(c, CompareSaveBody);
  await catalog(c).saveComparison(await ownFlow(c, b.flow_id), b.data, b.version);
  await invalidateFlow(cache(c), b.flow_id, b.version);
  return success(c.get("sid"));
};
// [new] spec §1.1: the console calls /protocol/compare/save; the original only had /protocolcompare/save
protocol.post("/protocolcompare/save", compareSave);
protocol.post("/protocol/compare/save", compareSave);

protocol.delete("/protocol/compare/delete", async (c) => {
  const b = await body(c, CompareDeleteBody);
  await catalog(c).deleteComparisons(await ownFlow(c, b.flow_id), b.version);
  await invalidateFlow(cache(c), b.flow_id, b.version);
  return success(c.get("sid"));
});

/** spec §1.5.9: the MCP-style input schema of the latest published version. */
protocol.get("/get_flow_info/:flow_id", async (c) => {
  const caller = appId(c);
  const row = await catalog(c).openFlow(c.req.param("flow_id"), caller, "");
  const start = startOutputs(row.release_data);
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const o of start) {
    const p: Record<string, unknown> = { type: o.schema?.type, description: o.schema?.description };
    if (Array.isArray(o.allowedFileType) && o.allowedFileType[0]) p.fileType = o.allowedFileType[0];
    properties[o.name] = p;
    if (o.required) required.push(o.name);
  }
  return success(c.get("sid"), {
    name: row.name,
    description: row.description,
    inputSchema: { type: "object", properties, required },
  });
});
