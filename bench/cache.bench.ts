// Where a plan should come from (issue 15): per flow size (5, 40, 200, 1,000 nodes), the CPU of compiling the DSL
// against the CPU of an Upstash hit on the plan (UpstashCache.get with fetch answering a canned Upstash response, so
// everything the worker does — client, response decoding, JSON.parse — and no network wait), and the same hit
// through @upstash/redis against a real redis behind the Upstash REST front on loopback. The runtime keeps plans in
// the isolate because the hit costs more than the compile (src/worker/store/plans.ts).
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

// per size: what a plan costs from each place it could come from
const redis = await startRedis();
const front = await startUpstashFront({ redisPort: redis.port, token: "bench" });
const realFetch = globalThis.fetch;
try {
  const cache = new UpstashCache(front.url, front.token, 1000, () => undefined);
  for (const size of (process.env.SIZES ?? "5,40,200,1000").split(",").map(Number)) {
    const dsl = flow(size);
    const plan = compile(dsl, registry);
    const planText = JSON.stringify(plan);
    for (let i = 0; i < 20; i++) compile(dsl, registry);
    const missCpu = await time(() => compile(dsl, registry), 100);
    const parseCpu = await time(() => JSON.parse(planText), 100);
    const hashCpu = await time(() => contentHash(JSON.stringify(dsl)), 100);
    // the whole Upstash hit inside the worker, no network: UpstashCache.get with fetch answering from memory
    const canned = JSON.stringify({ result: planText });
    globalThis.fetch = (async () =>
      new Response(canned, { status: 200, headers: { "Content-Type": "application/json" } })) as typeof fetch;
    let hitClientCpu: number;
    try {
      const stubbed = new UpstashCache("http://upstash.invalid", "t", 1000, () => undefined);
      for (let i = 0; i < 20; i++) await stubbed.get("plan");
      hitClientCpu = await time(() => stubbed.get("plan"), 100);
    } finally {
      globalThis.fetch = realFetch;
    }
    // and through a real redis behind the Upstash REST front on loopback
    await cache.set(`plan:bench:${size}`, plan, 600);
    for (let i = 0; i < 10; i++) await cache.get(`plan:bench:${size}`);
    const hitLoopback = await time(() => cache.get(`plan:bench:${size}`), 50);
    console.log(
      JSON.stringify({
        figure: "plan_source_cost",
        nodes: size,
        plan_kib: +(planText.length / 1024).toFixed(1),
        compile_ms: +missCpu.toFixed(3),
        upstash_hit_cpu_ms: +hitClientCpu.toFixed(3),
        upstash_hit_loopback_ms: +hitLoopback.toFixed(3),
        plan_json_parse_ms: +parseCpu.toFixed(3),
        content_hash_ms: +hashCpu.toFixed(3),
        upstash_hit_over_compile: +(hitClientCpu / missCpu).toFixed(2),
      }),
    );
  }
} finally {
  globalThis.fetch = realFetch;
  await front.close();
  await redis.stop();
}
