// Proves the `workers` project really runs inside workerd with wrangler.toml's bindings: the worker answers through
// SELF, a RunObject answers an RPC call, and the D1 migrations have been applied.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run-object.ts";

interface SmokeEnv {
  RUN: DurableObjectNamespace<RunObject>;
  DB: D1Database;
  TEST_MIGRATIONS: { name: string }[];
}
const smokeEnv = env as unknown as SmokeEnv;

describe("workerd smoke", () => {
  it("serves /health through the worker entry", async () => {
    const res = await SELF.fetch("https://edge.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("reaches a RunObject over RPC (a run that never started has no summary)", async () => {
    const stub = smokeEnv.RUN.get(smokeEnv.RUN.idFromName(`smoke-${crypto.randomUUID()}`));
    expect(await stub.summary("app1")).toBeNull();
  });

  it("has every D1 migration of migrations/ applied", async () => {
    const { results } = await smokeEnv.DB.prepare("SELECT name FROM d1_migrations ORDER BY id").all<{ name: string }>();
    expect(results.map((r) => r.name)).toEqual(smokeEnv.TEST_MIGRATIONS.map((m) => m.name));
  });
});
