// Seeds the workerd D1 of a test with apps and flows through the real catalog.
import { env } from "cloudflare:test";
import { Catalog } from "../../src/worker/store/catalog.ts";

export interface TestEnv {
  DB: D1Database;
  FILES: R2Bucket;
}

export const testEnv = env as unknown as TestEnv;

export async function seedApps(): Promise<Catalog> {
  const cat = new Catalog(testEnv.DB);
  await cat.upsertApp({
    alias_id: "tenant01",
    name: "tenant",
    api_key: "tenant-key",
    api_secret: "tenant-secret",
    is_tenant: 1,
    source: 1,
    plat_release_auth: 7,
  });
  await cat.upsertApp({
    alias_id: "tenant02",
    name: "tenant2",
    api_key: "t2-key",
    api_secret: "t2-secret",
    is_tenant: 1,
    source: 4,
    plat_release_auth: 5,
  });
  await cat.upsertApp({
    alias_id: "d1590f30",
    name: "demo",
    api_key: "demo-key",
    api_secret: "demo-secret",
    is_tenant: 0,
    source: 1,
  });
  await cat.upsertApp({
    alias_id: "other01",
    name: "other",
    api_key: "other-key",
    api_secret: "other-secret",
    is_tenant: 0,
    source: 1,
  });
  return cat;
}
