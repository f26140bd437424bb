// Per-request helpers shared by the routes: body parsing with the spec's 460 messages, the catalog, the cache,
// plans (cache → compile) and the caller's app id.
import type { Context } from "hono";
import { z } from "zod";
import { Codes, compile, WorkflowError, type Plan } from "../engine/index.ts";
import { registry } from "../plugins/index.ts";
import type { AppEnv } from "./env.ts";
import { validationMessage } from "./envelope.ts";
import { cached, contentHash, createCache, DEFAULT_TTL_S, planIndexKey, planKey, type Cache } from "./store/cache.ts";
import { Catalog } from "./store/catalog.ts";

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
      throw new WorkflowError(Codes.PARAM_ERROR, `Parameter: body, Input: ${JSON.stringify(text.slice(0, 200))}, Error: JSON decode error (json_invalid)`);
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
    throw new WorkflowError(Codes.PARAM_ERROR, "Parameter: header->x-consumer-username, Input: null, Error: Field required (missing)");
  }
  return id ?? "";
}

/** The compiled plan of a DSL, from the cache when the same content was compiled before. */
export async function planFor(c: Ctx, flowId: string, version: string, dsl: unknown): Promise<Plan> {
  const store = cache(c);
  const hash = await contentHash(JSON.stringify(dsl));
  const key = planKey(flowId, version, hash);
  const plan = await cached(store, key, DEFAULT_TTL_S, async () => compile(dsl, registry));
  c.executionCtx.waitUntil(store.addMember(planIndexKey(flowId), key, DEFAULT_TTL_S));
  return plan;
}

/** Validates a DSL by compiling it (spec §4.10). */
export function validateDsl(dsl: unknown): void {
  compile(dsl, registry);
}

export const idString = z.union([z.string().min(1), z.number().transform((n) => String(n))]);
