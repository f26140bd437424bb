// Per-request helpers shared by the routes: body parsing with the spec's 460 messages, the catalog, the cache,
// plans (cache → compile) and the caller's app id.
import type { Context } from "hono";
import { z } from "zod";
import { Codes, compile, WorkflowError, type Plan } from "../engine/index.ts";
import { registry } from "../plugins/index.ts";
import type { AppEnv } from "./env.ts";
import { validationMessage } from "./envelope.ts";
import { cached, contentHash, createCache, DEFAULT_TTL_S, planIndexKey, planKey, type Cache } from "./store/cache.ts";
import { Catalog, isPublished, type FlowRow } from "./store/catalog.ts";

export type Ctx = Context<AppEnv>;

export function catalog(c: Ctx): Catalog {
  return new Catalog(c.env.DB);
}

export function cache(c: Ctx): Cache {
  return createCache(c.env);
}

/** Reads and validates a JSON body; unknown fields are ignored; failures are 460 with the spec's lines. */
export async function body<S extends z.ZodType>(c: Ctx, schema: S): Promise<z.infer<S>> {
  let raw: unknown = {};
  const text = await c.req.text();
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new WorkflowError(
        Codes.PARAM_ERROR,
        `Parameter: body, Input: ${JSON.stringify(text.slice(0, 200))}, Error: JSON decode error (json_invalid)`,
      );
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new WorkflowError(Codes.PARAM_ERROR, validationMessage("body", parsed.error, raw));
  return parsed.data;
}

/** The caller's app id (X-Consumer-Username, verified by the auth middleware); required → 460 when absent. */
export function appId(c: Ctx, required = true): string {
  const id = c.get("appId");
  if (!id && required) {
    throw new WorkflowError(
      Codes.PARAM_ERROR,
      "Parameter: header->x-consumer-username, Input: null, Error: Field required (missing)",
    );
  }
  return id ?? "";
}

/** The compiled plan of a DSL, from the cache when the same content was compiled before. */
export async function planFor(
  c: Ctx,
  flowId: string,
  version: string,
  dsl: unknown,
  knownHash?: string,
): Promise<Plan> {
  const store = cache(c);
  const hash = knownHash ?? (await contentHash(JSON.stringify(dsl)));
  const key = planKey(flowId, version, hash);
  // indexed under the flow on a miss only, so a hit costs one read (invalidation finds the key through the index)
  const plan = await cached(store, key, DEFAULT_TTL_S, async () => compile(dsl, registry), {
    flowId,
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  });
  return plan;
}

export interface ResolvedRow {
  row: FlowRow;
  /** content hash of the DSL the run executes (plan cache key part) */
  hash: string;
}

/**
 * The published row an open run executes (spec §1.5.1 steps 1–3), read through the row cache of spec §7.2:
 * `flows:flow_info:new:{id}:latest` (or `:{version}`), indexed per flow so publishing, updating and deleting
 * invalidate exactly that flow's keys.
 */
export async function resolveOpenFlow(
  c: Ctx,
  flowId: string,
  app: string,
  version: string,
  useReleaseData: boolean,
): Promise<ResolvedRow> {
  const store = cache(c);
  const cat = catalog(c);
  const rowKey = `flows:flow_info:new:${flowId}:${version || "latest"}${useReleaseData ? "" : ":data"}`;
  let entry = await store.get<ResolvedRow>(rowKey);
  if (entry) {
    await checkLicenceCached(c, app, entry.row.group_id);
  } else {
    // spec §1.5.1 order: flow (20201) → licence (20004/20005) → published row (20204)
    const flow = await cat.requireFlow(flowId);
    await checkLicenceCached(c, app, flow.group_id);
    const row = await cat.publishedRow(flow, version);
    entry = { row, hash: await contentHash(JSON.stringify(useReleaseData ? row.release_data : row.data)) };
    if (isPublished(row.release_status)) {
      await store.set(rowKey, entry, DEFAULT_TTL_S);
      c.executionCtx.waitUntil(store.addMember(planIndexKey(flowId), rowKey, DEFAULT_TTL_S));
    }
  }
  if (!isPublished(entry.row.release_status)) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR);
  return entry;
}

/** The cache key of a valid licence (spec §7.2 key shape). */
export function licenceKey(app: string, groupId: string): string {
  return `license:license_info:new:${app}:${groupId}`;
}

/** how long a valid licence is trusted without reading D1 again; a licence changed behind the API's back applies after this */
export const LICENCE_TTL_S = 60;

/**
 * The licence check of open runs (spec §7.2 SHOULD: cached, invalidated by `/v1/auth`). Only a valid licence is
 * cached: a missing or disabled one is read again on every request, so binding an app takes effect at once.
 */
export async function checkLicenceCached(c: Ctx, app: string, groupId: string): Promise<void> {
  const store = cache(c);
  const key = licenceKey(app, groupId);
  if ((await store.get<{ status: number }>(key))?.status === 1) return;
  await catalog(c).checkLicence(app, groupId);
  c.executionCtx.waitUntil(store.set(key, { status: 1 }, LICENCE_TTL_S));
}

export const idString = z.union([z.string().min(1), z.number().transform((n) => String(n))]);
