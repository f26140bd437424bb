// The plan and row cache against a real redis through the Upstash REST front, with the real @upstash/redis
// client inside workerd (issue 5: hit, miss, invalidation, Redis slow or down, LRU without credentials).
import { SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { registry } from "../../src/plugins/index.ts";
import {
  cached,
  contentHash,
  createCache,
  flowKeys,
  invalidateFlow,
  LruCache,
  planIndexKey,
  planKey,
  UpstashCache,
} from "../../src/worker/store/cache.ts";
import { loadFixture } from "../support/fixtures.ts";

const url = inject("upstashUrl");
const token = inject("upstashToken");

async function control(body: { delayMs?: number; down?: boolean }): Promise<void> {
  const res = await fetch(`${url}/__control`, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

function upstash(timeoutMs = 500): UpstashCache {
  return new UpstashCache(url, token, timeoutMs, () => undefined);
}

describe("plan cache on Upstash (real redis)", () => {
  it("round-trips a compiled plan as JSON with a TTL", async () => {
    const cache = upstash();
    const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);
    const key = planKey("f-roundtrip", "draft", await contentHash(JSON.stringify(plan)));
    await cache.set(key, plan, 120);
    expect(await cache.get(key)).toEqual(plan);
    const ttl = await fetch(url, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify(["TTL", key]) });
    const { result } = (await ttl.json()) as { result: number };
    expect(result).toBeGreaterThan(100);
    expect(result).toBeLessThanOrEqual(120);
  });

  it("counts hits and misses and loads through on a miss only", async () => {
    const cache = upstash();
    let loads = 0;
    const load = async (): Promise<{ v: number }> => ({ v: ++loads });
    expect(await cached(cache, "k-readthrough", 60, load)).toEqual({ v: 1 });
    expect(await cached(cache, "k-readthrough", 60, load)).toEqual({ v: 1 });
    expect(loads).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, errors: 0, kind: "upstash" });
  });

  it("invalidates exactly one flow's row and plan keys", async () => {
    const cache = upstash();
    for (const flow of ["fa", "fb"]) {
      for (const k of flowKeys(flow, "v1.0")) await cache.set(k, { row: flow }, 60);
      await cache.set(planKey(flow, "v1.0", "h1"), { plan: flow }, 60);
      await cache.addMember(planIndexKey(flow), planKey(flow, "v1.0", "h1"), 60);
    }
    await invalidateFlow(cache, "fa", "v1.0");
    for (const k of [...flowKeys("fa", "v1.0"), planKey("fa", "v1.0", "h1")]) expect(await cache.get(k)).toBeUndefined();
    for (const k of [...flowKeys("fb", "v1.0"), planKey("fb", "v1.0", "h1")]) expect(await cache.get(k)).toBeDefined();
  });

  it("answers within its bound when Upstash is slow, and counts the miss", async () => {
    const cache = upstash(80);
    await cache.set("k-slow", { a: 1 }, 60);
    await control({ delayMs: 600 });
    try {
      const t = Date.now();
      expect(await cache.get("k-slow")).toBeUndefined();
      expect(Date.now() - t).toBeLessThan(400);
      expect(cache.stats().errors).toBe(1);
    } finally {
      await control({ delayMs: 0 });
    }
  });

  it("never throws into a request when Upstash is down", async () => {
    const cache = upstash();
    await control({ down: true });
    try {
      expect(await cache.get("anything")).toBeUndefined();
      await cache.set("anything", { x: 1 }, 60);
      await cache.del(["anything"]);
      expect(cache.stats().errors).toBe(3);
    } finally {
      await control({ down: false });
    }
  });

  it("uses the in-isolate LRU without credentials and honours its TTL and size", async () => {
    expect(createCache({}, () => undefined).stats().kind).toBe("lru");
    let now = 0;
    const lru = new LruCache(2, () => now);
    await lru.set("a", 1, 10);
    await lru.set("b", 2, 10);
    await lru.set("c", 3, 10);
    expect(await lru.get("a")).toBeUndefined();
    expect(await lru.get("c")).toBe(3);
    now = 11_000;
    expect(await lru.get("c")).toBeUndefined();
  });
});

describe("a run with the cache unavailable still succeeds (issue 5)", () => {
  it("compiles from D1 when the cache misses", async () => {
    // the worker under test has no Upstash credentials: the LRU serves, and a fresh flow is always a miss
    const add = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "n", description: "", app_id: "", data: loadFixture("example-core-if-else-branch.json") }),
    });
    const id = ((await add.json()) as { data: { flow_id: string } }).data.flow_id;
    const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
      body: JSON.stringify({ flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: "c", score: 100 } }),
    });
    const body = (await res.json()) as { code: number; choices: { delta: { content: string } }[] };
    expect(body.code).toBe(0);
    expect(body.choices[0]?.delta.content).toBe('PASS: c{"joined":""}');
  });
});
