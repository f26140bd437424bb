// Plan cache figures of issue 5: the worker CPU a cache hit costs for a 200-node flow against a miss (compile),
// and the latency of a hit and a miss through @upstash/redis against a real redis behind the Upstash REST front
// on loopback. The hit's CPU is measured through UpstashCache.get with fetch answering a canned Upstash response,
// so it counts everything the worker does (client, response decoding, JSON.parse) and no network wait.
// Run: `npm run bench -- cache`.
import { z } from "zod";
import { compile } from "../src/engine/compile.ts";
import { definePlugin, type Plugin } from "../src/engine/plugin.ts";
import { Registry } from "../src/engine/registry.ts";
import { plugins } from "../src/plugins/index.ts";
import { contentHash, UpstashCache } from "../src/worker/store/cache.ts";
import { startRedis } from "../test/support/redis-server.ts";
import { startUpstashFront } from "../test/support/upstash-front.ts";

const noop = definePlugin({ type: "noop", params: z.record(z.string(), z.unknown()), run: () => ({ outputs: {} }) });
const registry = new Registry([...plugins, noop as unknown as Plugin<never>]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function flow(size: number): unknown {
  const node = (id: string, extra: Record<string, unknown> = {}): unknown => ({
    id,
    data: {
      nodeMeta: { nodeType: "b", aliasName: id },
      inputs: [
        {
          id: `${id}-i`,
          name: "x",
          schema: {
            type: "string",
            value: { type: "ref", content: { nodeId: "node-start::s", name: "AGENT_USER_INPUT" } },
          },
        },
      ],
      outputs: [{ name: "output", schema: { type: "string" } }],
      nodeParam: {},
      ...extra,
    },
  });
  const nodes: unknown[] = [
    {
      id: "node-start::s",
      data: {
        nodeMeta: { nodeType: "b", aliasName: "S" },
        outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
      },
    },
  ];
  const edges: unknown[] = [];
  let prev = "node-start::s";
  for (let i = 0; i < size - 2; i++) {
    const id = `noop::n${i}`;
    nodes.push(node(id));
    edges.push({ sourceNodeId: prev, targetNodeId: id });
    prev = id;
  }
  nodes.push({
    id: "node-end::e",
    data: { nodeMeta: { nodeType: "b", aliasName: "E" }, nodeParam: { outputMode: 0 } },
  });
  edges.push({ sourceNodeId: prev, targetNodeId: "node-end::e" });
  return { data: { nodes, edges } };
}

async function time(fn: () => unknown, n: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const dsl = flow(200);
const plan = compile(dsl, registry);
const planText = JSON.stringify(plan);
for (let i = 0; i < 50; i++) JSON.parse(planText);
const hitCpu = await time(() => JSON.parse(planText), 200);
const missCpu = await time(() => compile(dsl, registry), 100);
const hashCpu = await time(() => contentHash(JSON.stringify(dsl)), 100);

// the whole hit inside the worker: one UpstashCache.get answered from memory
const realFetch = globalThis.fetch;
const canned = JSON.stringify({ result: planText });
globalThis.fetch = (async () =>
  new Response(canned, { status: 200, headers: { "Content-Type": "application/json" } })) as typeof fetch;
let hitClientCpu: number;
try {
  const stubbed = new UpstashCache("http://upstash.invalid", "t", 1000, () => undefined);
  for (let i = 0; i < 50; i++) await stubbed.get("plan");
  hitClientCpu = await time(() => stubbed.get("plan"), 200);
} finally {
  globalThis.fetch = realFetch;
}
console.log(
  JSON.stringify({
    figure: "plan_cache_cpu_200_nodes",
    plan_kib: +(planText.length / 1024).toFixed(1),
    hit_parse_ms: +hitCpu.toFixed(3),
    hit_client_ms: +hitClientCpu.toFixed(3),
    miss_compile_ms: +missCpu.toFixed(3),
    content_hash_ms: +hashCpu.toFixed(3),
    target_hit_ms: 1,
    ratio_hit_to_miss: +(hitClientCpu / missCpu).toFixed(2),
  }),
);

const redis = await startRedis();
const front = await startUpstashFront({ redisPort: redis.port, token: "bench" });
try {
  const cache = new UpstashCache(front.url, front.token, 1000, () => undefined);
  await cache.set("plan:bench", plan, 600);
  for (let i = 0; i < 20; i++) await cache.get("plan:bench");
  const hit = await time(() => cache.get("plan:bench"), 100);
  const miss = await time(async () => {
    if ((await cache.get("plan:absent")) === undefined) compile(dsl, registry);
  }, 100);
  console.log(
    JSON.stringify({
      figure: "plan_cache_latency_upstash_loopback",
      hit_ms: +hit.toFixed(3),
      miss_then_compile_ms: +miss.toFixed(3),
    }),
  );
} finally {
  await front.close();
  await redis.stop();
}
