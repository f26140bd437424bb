// The plan and row cache and the node-variable store against a real redis-server through the Upstash REST front,
// with the real @upstash/redis client inside workerd (issue 5: hit, miss, TTL, invalidation, Redis slow, down or
// unreachable, the LRU without credentials), and the worker's routes running with Upstash configured.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Redis } from "@upstash/redis/cloudflare";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { compile, PLAN_VERSION } from "../../src/engine/compile.ts";
import { registry } from "../../src/plugins/index.ts";
import { app } from "../../src/worker/app.ts";
import {
  appKey,
  cached,
  contentHash,
  createCache,
  flowKeys,
  invalidateFlow,
  licenseKey,
  LruCache,
  planIndexKey,
  planKey,
  UpstashCache,
  type Cache,
} from "../../src/worker/store/cache.ts";
import { createKv, IsolateKv, UpstashKv } from "../../src/durable/kv.ts";
import { PlanMemo, planMemo } from "../../src/worker/store/plans.ts";
import type { Plan } from "../../src/engine/compile.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps } from "../support/seed.ts";

const url = inject("upstashUrl");
const token = inject("upstashToken");
const run = crypto.randomUUID().slice(0, 8);

/** A fault scope of the front of its own, so one test's outage does not reach another's requests. */
function scope(name: string): {
  url: string;
  control(c: { delayMs?: number; down?: boolean; downMode?: "error" | "reset" }): Promise<{ requests: number }>;
} {
  const id = `${name}-${run}`;
  return {
    url: `${url}/~${id}`,
    async control(c) {
      const res = await fetch(`${url}/__control`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ scope: id, ...c }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { requests: number };
    },
  };
}

/** The real client, reading what the cache wrote (raw strings, no deserialisation). */
const raw = new Redis({
  url,
  token,
  automaticDeserialization: false,
  enableTelemetry: false,
  enableAutoPipelining: false,
});

function upstash(timeoutMs = 1000, at = url): UpstashCache {
  return new UpstashCache(at, token, timeoutMs, () => undefined);
}

const key = (s: string): string => `${s}-${run}`;

describe("plan cache on Upstash (real redis behind the REST front)", () => {
  it("stores a compiled plan as JSON text with its TTL and reads it back equal", async () => {
    const cache = upstash();
    const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);
    const k = planKey(key("f-roundtrip"), "v1", await contentHash(JSON.stringify(plan)));
    await cache.set(k, plan, 120);
    expect(await cache.get(k)).toEqual(plan);
    // spec §7: JSON, never pickles — the stored value is the plan's JSON text
    expect(JSON.parse((await raw.get<string>(k)) ?? "null")).toEqual(plan);
    const ttl = await raw.ttl(k);
    expect(ttl).toBeGreaterThan(110);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(cache.stats()).toMatchObject({ kind: "upstash", hits: 1, misses: 0, errors: 0 });
  });

  it("reads through: a miss loads and writes back, the next read is a hit", async () => {
    const cache = upstash();
    let loads = 0;
    const load = async (): Promise<{ v: number; text: string }> => ({ v: ++loads, text: "ünïcødé ✓" });
    const k = key("k-readthrough");
    expect(await cached(cache, k, 60, load)).toEqual({ v: 1, text: "ünïcødé ✓" });
    expect(await cached(cache, k, 60, load)).toEqual({ v: 1, text: "ünïcødé ✓" });
    expect(loads).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, errors: 0 });
  });

  it("does not cache an undefined load, and keeps values that are falsy", async () => {
    const cache = upstash();
    const k = key("k-falsy");
    expect(await cached(cache, k, 60, async () => undefined)).toBeUndefined();
    expect(await raw.exists(k)).toBe(0);
    for (const v of [0, false, "", null]) {
      await cache.set(k, v, 60);
      expect(await cache.get(k)).toBe(v);
    }
  });

  it("treats a value that is not JSON as a miss", async () => {
    const cache = upstash();
    const k = key("k-foreign");
    await raw.set(k, "\x80\x04pickled?");
    expect(await cache.get(k)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 1 });
  });

  it("invalidates exactly one flow's row and plan keys, not a flow whose id it prefixes", async () => {
    const cache = upstash();
    const [fa, fb] = [key("7"), key("7") + "0"];
    for (const flow of [fa, fb]) {
      for (const k of flowKeys(flow, "v1.0")) await cache.set(k, { row: flow }, 60);
      for (const hash of ["h1", "h2"]) {
        await cached(cache, planKey(flow, "v1.0", hash), 60, async () => ({ plan: flow, hash }), { flowId: flow });
      }
    }
    expect((await raw.smembers(planIndexKey(fa))).sort()).toEqual([
      planKey(fa, "v1.0", "h1"),
      planKey(fa, "v1.0", "h2"),
    ]);
    const untouched = [appKey(key("app")), licenseKey(key("app"), 1)];
    for (const k of untouched) await cache.set(k, { other: true }, 60);

    await invalidateFlow(cache, fa, "v1.0");

    const gone = [...flowKeys(fa, "v1.0"), planKey(fa, "v1.0", "h1"), planKey(fa, "v1.0", "h2"), planIndexKey(fa)];
    const kept = [
      ...flowKeys(fb, "v1.0"),
      planKey(fb, "v1.0", "h1"),
      planKey(fb, "v1.0", "h2"),
      planIndexKey(fb),
      ...untouched,
    ];
    expect(await raw.exists(...gone)).toBe(0);
    expect(await raw.exists(...kept)).toBe(kept.length);
  });

  it("keeps a flow's index alive as long as the keys it lists", async () => {
    const cache = upstash();
    const flow = key("ttl-index");
    await cached(cache, planKey(flow, "", "h"), 300, async () => ({ p: 1 }), { flowId: flow });
    expect(await raw.ttl(planIndexKey(flow))).toBeGreaterThan(290);
  });

  it("answers within its bound when Upstash is slow, and counts the miss and the timeout", async () => {
    const slow = scope("slow");
    const cache = upstash(100, slow.url);
    const k = key("k-slow");
    await cache.set(k, { a: 1 }, 60);
    expect(await cache.get(k)).toEqual({ a: 1 });
    await slow.control({ delayMs: 1500 });
    try {
      const t = Date.now();
      expect(await cache.get(k)).toBeUndefined();
      await cache.set(k, { a: 2 }, 60);
      await cache.del([k]);
      expect(Date.now() - t).toBeLessThan(1000);
      expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, errors: 3, timeouts: 3 });
    } finally {
      await slow.control({ delayMs: 0 });
    }
    expect(await cache.get(k)).toEqual({ a: 1 });
  });

  for (const downMode of ["error", "reset"] as const) {
    it(`never throws into a request when Upstash is down (${downMode === "error" ? "500 answers" : "connections dropped"})`, async () => {
      const down = scope(`down-${downMode}`);
      const cache = upstash(1000, down.url);
      await down.control({ down: true, downMode });
      try {
        expect(await cache.get(key("anything"))).toBeUndefined();
        await cache.set(key("anything"), { x: 1 }, 60);
        await cache.del([key("anything")]);
        expect(await cache.members(key("index"))).toEqual([]);
        await cache.addMember(key("index"), "m", 60);
        await invalidateFlow(cache, key("down-flow"));
        expect(await cached(cache, key("anything"), 60, async () => "loaded")).toBe("loaded");
        expect(cache.stats()).toMatchObject({ hits: 0, misses: 2, errors: 9, timeouts: 0 });
      } finally {
        await down.control({ down: false });
      }
    });
  }

  it("never throws when nothing listens at the Upstash URL", async () => {
    const cache = upstash(1000, "http://127.0.0.1:9");
    expect(await cache.get("k")).toBeUndefined();
    await cache.set("k", 1, 60);
    expect(cache.stats()).toMatchObject({ misses: 1, errors: 2 });
  });
});

describe("choosing the cache per deployment", () => {
  it("uses Upstash when both credentials are set: one cache per isolate, so the counters add up", () => {
    const e = { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token, CACHE_TIMEOUT_MS: "75" };
    const a = createCache(e, () => undefined);
    expect(a).toBeInstanceOf(UpstashCache);
    expect(createCache(e, () => undefined)).toBe(a);
    expect(createCache({ UPSTASH_REDIS_REST_URL: url }, () => undefined)).toBeInstanceOf(LruCache);
  });

  it("says once that it falls back to the in-isolate LRU", () => {
    const lines: string[] = [];
    const a = createCache({}, (l) => lines.push(l));
    const b = createCache({ UPSTASH_REDIS_REST_TOKEN: token }, (l) => lines.push(l));
    expect(a).toBe(b);
    expect(a.stats().kind).toBe("lru");
    // once per isolate: this file may not be the first to ask
    expect(lines.length).toBeLessThanOrEqual(1);
    for (const l of lines) expect(l).toBe("no Upstash credentials: using in-isolate LRU cache");
  });
});

describe("in-isolate LRU", () => {
  it("honours the TTL on an injected clock", async () => {
    let now = 1_000;
    const lru = new LruCache(10, () => now);
    await lru.set("a", { v: 1 }, 10);
    await lru.set("forever", 1, 0);
    now += 9_999;
    expect(await lru.get("a")).toEqual({ v: 1 });
    now += 1;
    expect(await lru.get("a")).toBeUndefined();
    now += 1e12;
    expect(await lru.get("forever")).toBe(1);
  });

  it("evicts the least recently used entry beyond its size", async () => {
    const lru = new LruCache(2, () => 0);
    await lru.set("a", 1, 10);
    await lru.set("b", 2, 10);
    expect(await lru.get("a")).toBe(1); // a is now more recent than b
    await lru.set("c", 3, 10);
    expect(lru.size).toBe(2);
    expect(await lru.get("b")).toBeUndefined();
    expect(await lru.get("a")).toBe(1);
    expect(await lru.get("c")).toBe(3);
  });

  it("keeps its total size bounded, dropping the least recently used first", async () => {
    const lru = new LruCache(100, () => 0, 25); // JSON characters
    await lru.set("a", "x".repeat(8), 10); // 10 characters of JSON each
    await lru.set("b", "y".repeat(8), 10);
    await lru.set("c", "z".repeat(8), 10);
    expect(lru.size).toBe(2);
    expect(await lru.get("a")).toBeUndefined();
    await lru.set("huge", "w".repeat(100), 10);
    expect(await lru.get("huge")).toBeUndefined();
    expect(await lru.get("c")).toBe("z".repeat(8));
  });

  it("hands out one frozen value per entry: no caller can change what the next one gets", async () => {
    const lru = new LruCache();
    const stored = { nodes: [1], flow: { name: "f" } };
    await lru.set("p", stored, 10);
    stored.nodes.push(9); // the cache holds what was set, not the caller's object
    const first = await lru.get<{ nodes: number[]; flow: { name: string } }>("p");
    expect(() => first?.nodes.push(2)).toThrow(TypeError);
    expect(() => {
      if (first) first.flow.name = "changed";
    }).toThrow(TypeError);
    expect(await lru.get("p")).toEqual({ nodes: [1], flow: { name: "f" } });
    // a new value replaces the shared one
    await lru.set("p", { nodes: [3], flow: { name: "g" } }, 10);
    expect(await lru.get("p")).toEqual({ nodes: [3], flow: { name: "g" } });
  });

  it("invalidates exactly one flow's keys", async () => {
    const lru: Cache = new LruCache();
    for (const flow of ["1", "10"]) {
      for (const k of flowKeys(flow)) await lru.set(k, flow, 60);
      await cached(lru, planKey(flow, "", "h"), 60, async () => flow, { flowId: flow });
    }
    await invalidateFlow(lru, "1");
    for (const k of [...flowKeys("1"), planKey("1", "", "h")]) expect(await lru.get(k)).toBeUndefined();
    for (const k of [...flowKeys("10"), planKey("10", "", "h")]) expect(await lru.get(k)).toBe("10");
  });
});

describe("node-variable storage (spec §5.19)", () => {
  const values = { color: "blue", n: 3, numeric: "123", flag: false, none: null, list: ["a", 1], meta: { k: [true] } };

  it("keeps JSON values in a Redis hash, merging fields on every set", async () => {
    const kv = new UpstashKv(url, token);
    const k = `sparkflowV2:variable_pool:${key("flow")}:u1:app1:`;
    await kv.hset(k, values);
    await kv.hset(k, { n: 4, extra: "x" });
    expect(await kv.hgetall(k)).toEqual({ ...values, n: 4, extra: "x" });
    expect(await raw.hget(k, "meta")).toBe('{"k":[true]}');
    expect(await raw.hget(k, "numeric")).toBe('"123"');
    expect(await raw.ttl(k)).toBe(-1); // no TTL by default, like the original
    expect(await kv.hgetall(`${k}other`)).toEqual({});
  });

  it("applies a configured TTL", async () => {
    const kv = new UpstashKv(url, token, { ttlSeconds: 600 });
    const k = key("kv-ttl");
    await kv.hset(k, { a: 1 });
    expect(await raw.ttl(k)).toBeGreaterThan(590);
  });

  it("fails loudly when Upstash is down (the node turns it into 22900)", async () => {
    const down = scope("kv-down");
    await down.control({ down: true });
    try {
      await expect(new UpstashKv(down.url, token).hset(key("kv-down"), { a: 1 })).rejects.toThrow(/unavailable/);
    } finally {
      await down.control({ down: false });
    }
  });

  it("keeps the same values in the isolate without credentials", async () => {
    const kv = createKv({}, () => undefined);
    expect(kv).toBeInstanceOf(IsolateKv);
    expect(createKv({ UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token })).toBeInstanceOf(UpstashKv);
    const k = key("isolate");
    await kv.hset(k, values);
    const read = await kv.hgetall(k);
    expect(read).toEqual(values);
    (read.meta as { k: boolean[] }).k.push(false);
    expect(await kv.hgetall(k)).toEqual(values);
  });
});

describe("the worker with Upstash configured", () => {
  beforeAll(async () => {
    await seedApps();
  });

  const branch = scope("worker");
  const upstashEnv = {
    ...env,
    UPSTASH_REDIS_REST_URL: branch.url,
    UPSTASH_REDIS_REST_TOKEN: token,
    CACHE_TIMEOUT_MS: "300",
  };

  async function call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`http://astron.test${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
        body: JSON.stringify(body),
      }),
      upstashEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return (await res.json()) as Record<string, unknown>;
  }

  async function addFlow(): Promise<string> {
    const r = await call("/workflow/v1/protocol/add", {
      name: "n",
      description: "",
      app_id: "d1590f30",
      data: loadFixture("example-core-if-else-branch.json"),
    });
    return (r.data as { flow_id: string }).flow_id;
  }

  async function debugRun(flowId: string): Promise<string | undefined> {
    const r = (await call("/workflow/v1/debug/chat/completions", {
      flow_id: flowId,
      stream: false,
      parameters: { AGENT_USER_INPUT: "c", score: 100 },
    })) as {
      code: number;
      choices?: { delta: { content: string } }[];
    };
    expect(r.code).toBe(0);
    return r.choices?.[0]?.delta.content;
  }

  const planKeysOf = async (flowId: string): Promise<string[]> => raw.keys(`plan:${flowId}:*`);

  async function publish(flowId: string): Promise<void> {
    const tenant = { "Content-Type": "application/json", "X-Consumer-Username": "tenant01" };
    for (const [path, body] of [
      ["/v1/publish", { flow_id: flowId, release_status: 1, plat: 1 }],
      ["/v1/auth", { flow_id: flowId, app_id: "d1590f30" }],
    ] as const) {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`http://astron.test${path}`, { method: "POST", headers: tenant, body: JSON.stringify(body) }),
        upstashEnv,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(((await res.json()) as { code: number }).code).toBe(0);
    }
  }

  async function openRun(flowId: string): Promise<string | undefined> {
    const r = (await call("/workflow/v1/chat/completions", {
      flow_id: flowId,
      stream: false,
      parameters: { AGENT_USER_INPUT: "c", score: 100 },
    })) as { code: number; choices?: { delta: { content: string } }[] };
    expect(r.code).toBe(0);
    return r.choices?.[0]?.delta.content;
  }

  it("keeps a run's plan in the isolate, never in Upstash, and compiles a changed flow again", async () => {
    const [one, two] = [await addFlow(), await addFlow()];
    const before = { hits: planMemo.hits, misses: planMemo.misses };
    expect(await debugRun(one)).toBe('PASS: c{"joined":""}');
    expect(await debugRun(two)).toBe('PASS: c{"joined":""}');
    expect(planMemo.misses - before.misses).toBe(2);
    expect(await planKeysOf(one)).toEqual([]); // an Upstash hit would cost more than the compile it saves
    expect(await debugRun(one)).toBe('PASS: c{"joined":""}');
    expect(planMemo.hits - before.hits).toBe(1);

    // a changed draft has a new content hash: compiled again, and the run follows the change
    const data = loadFixture("example-core-if-else-branch.json") as { data: { nodes: { id: string }[] } };
    const changed = JSON.parse(JSON.stringify(data).replaceAll("PASS", "GOOD")) as unknown;
    const update = await call(`/workflow/v1/protocol/update/${one}`, { data: changed });
    expect(update.code).toBe(0);
    const misses = planMemo.misses;
    expect(await debugRun(one)).toBe('GOOD: c{"joined":""}');
    expect(planMemo.misses).toBe(misses + 1);
    expect(await debugRun(two)).toBe('PASS: c{"joined":""}');
  });

  it("caches an open run's row without its DSL, and drops it when the flow is published again", async () => {
    const flow = await addFlow();
    await publish(flow);
    expect(await openRun(flow)).toBe('PASS: c{"joined":""}');
    const rowKey = `flows:flow_info:new:${flow}:latest`;
    const cached = JSON.parse((await raw.get<string>(rowKey)) ?? "null") as Record<string, unknown> | null;
    expect(cached).not.toBeNull();
    expect(cached?.hash).toMatch(/^[0-9a-f]{24}$/);
    expect(cached?.files).toEqual([]);
    // the row's metadata only: the DSL (hundreds of KB for a large flow) is read from D1 only to compile
    expect(Object.keys(cached?.row as object)).not.toContain("release_data");
    expect(Object.keys(cached?.row as object)).not.toContain("data");
    expect(await raw.smembers(planIndexKey(flow))).toContain(rowKey);

    // a hit: the row from Upstash, the plan from the isolate
    const cache = createCache(upstashEnv);
    const hits = cache.stats().hits;
    const memoHits = planMemo.hits;
    expect(await openRun(flow)).toBe('PASS: c{"joined":""}');
    expect(cache.stats().hits).toBeGreaterThan(hits);
    expect(planMemo.hits).toBe(memoHits + 1);

    // published again with a change: the row key is dropped, the new DSL runs
    const data = loadFixture("example-core-if-else-branch.json");
    const changed = JSON.parse(JSON.stringify(data).replaceAll("PASS", "FINE")) as unknown;
    expect((await call(`/workflow/v1/protocol/update/${flow}`, { data: changed })).code).toBe(0);
    await publish(flow);
    expect(await raw.get(rowKey)).toBeNull();
    expect(await openRun(flow)).toBe('FINE: c{"joined":""}');
  });

  it("still runs from D1 + compile when Upstash is down, and counts the misses", async () => {
    const flow = await addFlow();
    await publish(flow);
    const cache = createCache(upstashEnv);
    const before = cache.stats();
    await branch.control({ down: true });
    try {
      expect(await openRun(flow)).toBe('PASS: c{"joined":""}');
    } finally {
      await branch.control({ down: false });
    }
    const after = cache.stats();
    expect(after.misses).toBeGreaterThan(before.misses);
    expect(after.errors).toBeGreaterThan(before.errors);
  });

  it("still runs when Upstash is slower than the bound", async () => {
    const flow = await addFlow();
    await publish(flow);
    await branch.control({ delayMs: 2000 });
    try {
      const t = Date.now();
      expect(await openRun(flow)).toBe('PASS: c{"joined":""}');
      expect(Date.now() - t).toBeLessThan(1900);
    } finally {
      await branch.control({ delayMs: 0 });
    }
  });
});

describe("the isolate's plans (PlanMemo)", () => {
  const base = compile(loadFixture("example-core-if-else-branch.json"), registry);
  // only the node count matters to the memo's budget
  const planOf = (nodes: number): Plan => ({ ...base, nodes: Array.from({ length: nodes }, () => base.nodes[0]!) });

  it("keeps the most recently used plans within its count and node budgets", () => {
    const memo = new PlanMemo(3, 100);
    for (const k of ["a", "b", "c"]) memo.set(k, planOf(10));
    expect(memo.get("a")).toBeDefined(); // a is now the most recent
    memo.set("d", planOf(10)); // over 3 plans: b (least recent) goes
    expect(memo.get("b")).toBeUndefined();
    expect(memo.get("a")).toBeDefined();
    memo.set("e", planOf(80)); // 10 + 10 + 10 + 80 > 100 nodes: the oldest go until it fits
    expect(memo.nodes).toBeLessThanOrEqual(100);
    expect(memo.get("e")).toBeDefined();
    expect(memo.size).toBeLessThanOrEqual(3);
  });

  it("does not keep a plan larger than the whole budget, and counts hits and misses", () => {
    const memo = new PlanMemo(3, 100);
    memo.set("small", planOf(5));
    memo.set("huge", planOf(101));
    expect(memo.get("huge")).toBeUndefined();
    expect(memo.get("small")).toBeDefined();
    expect(memo.nodes).toBe(5);
    expect([memo.hits, memo.misses]).toEqual([1, 1]);
    memo.set("small", planOf(7)); // replacing a key re-counts its nodes
    expect(memo.nodes).toBe(7);
  });
});
