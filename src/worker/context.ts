// Per-request helpers shared by the routes: body parsing with the spec's 460 messages, the catalog, the cache,
// plans (the isolate's → compile) and the caller's app id.
import type { Context } from "hono";
import * as z from "zod";
import { Codes, compile, WorkflowError, type Plan } from "../engine/index.ts";
import { registry } from "../plugins/index.ts";
import type { AppEnv } from "./env.ts";
import { validationMessage } from "./envelope.ts";
import { startOutputs, type StartOutput } from "./start-outputs.ts";
import { contentHash, createCache, DEFAULT_TTL_S, planIndexKey, planKey, type Cache } from "./store/cache.ts";
import { Catalog, isPublished, type FlowRow } from "./store/catalog.ts";
import { planMemo } from "./store/plans.ts";

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

/**
 * The compiled plan of a flow's DSL: the isolate's copy when this content was compiled before (src/worker/store/
 * plans.ts), else `load()` gives the DSL (and its hash when known), which is compiled and kept. `hash` is the
 * content hash the row cache recorded; a DSL `load` reads again may be newer (published meanwhile): it is then kept
 * under its own hash.
 */
export async function planFor(
  flowId: string,
  version: string,
  hash: string,
  load: () => Promise<{ dsl: unknown; hash?: string }>,
): Promise<Plan> {
  const known = planMemo.get(planKey(flowId, version, hash));
  if (known) return known;
  const loaded = await load();
  const plan = compile(loaded.dsl, registry);
  // hashing a 1,000-node DSL costs about as much as compiling it: done only when `load` read a DSL of unknown hash
  planMemo.set(planKey(flowId, version, loaded.hash ?? (await contentHash(JSON.stringify(loaded.dsl)))), plan);
  return plan;
}

/**
 * What the row cache keeps of a published row: the row without its DSL columns (a run whose plan the isolate holds
 * needs no DSL, and a 1,000-node DSL is hundreds of KB to fetch and parse on every hit), the content hash of the DSL
 * that runs, and the start node's file-typed outputs (checked on every run).
 */
export interface ResolvedRow {
  row: FlowMeta;
  /** content hash of the DSL the run executes (plan key part); "" when the row has no DSL */
  hash: string;
  /** the start node's outputs with a file type */
  files: StartOutput[];
}

export type FlowMeta = Omit<FlowRow, "data" | "release_data">;

function isResolvedRow(v: unknown): v is ResolvedRow {
  const e = v as Partial<ResolvedRow> | undefined;
  return typeof e?.hash === "string" && Array.isArray(e.files) && typeof e.row === "object" && e.row !== null;
}

/** The start node's file-typed outputs of a DSL. */
export function fileOutputs(dsl: unknown): StartOutput[] {
  return startOutputs(dsl).filter((o) => o.fileType !== undefined && o.fileType !== null);
}

/**
 * The published row an open run executes (spec §1.5.1 steps 1–3), read through the row cache of spec §7.2:
 * `flows:flow_info:new:{id}:latest` (or `:{version}`), indexed per flow so publishing, updating and deleting
 * invalidate exactly that flow's keys. On a miss the DSL read from D1 comes back too (`dsl`), so the plan needs no
 * second read.
 */
export async function resolveOpenFlow(
  c: Ctx,
  flowId: string,
  app: string,
  version: string,
  useReleaseData: boolean,
): Promise<{ entry: ResolvedRow; dsl?: unknown }> {
  const store = cache(c);
  const cat = catalog(c);
  const rowKey = `flows:flow_info:new:${flowId}:${version || "latest"}${useReleaseData ? "" : ":data"}`;
  const hit = await store.get<unknown>(rowKey);
  let entry: ResolvedRow;
  let dsl: unknown;
  if (isResolvedRow(hit)) {
    entry = hit;
    await checkLicenceCached(c, app, entry.row.group_id);
  } else {
    // spec §1.5.1 order: flow (20201) → licence (20004/20005) → published row (20204)
    const flow = await cat.requireFlow(flowId);
    await checkLicenceCached(c, app, flow.group_id);
    const { data, release_data, ...row } = await cat.publishedRow(flow, version);
    dsl = useReleaseData ? release_data : data;
    entry = { row, hash: dsl ? await contentHash(JSON.stringify(dsl)) : "", files: fileOutputs(dsl) };
    if (isPublished(row.release_status)) {
      const cached = entry;
      c.executionCtx.waitUntil(
        (async () => {
          await store.set(rowKey, cached, DEFAULT_TTL_S);
          await store.addMember(planIndexKey(flowId), rowKey, DEFAULT_TTL_S);
        })(),
      );
    }
  }
  if (!isPublished(entry.row.release_status)) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR);
  return { entry, dsl };
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
