// What the flow cache saves end to end (issue 15, "caching that pays"): open, non-streamed chat runs of published
// flows of 5, 40 and 1,000 nodes through `wrangler dev` with Upstash configured (a real redis behind the
// Upstash-REST front of test/support, on loopback), at c = 1:
//  - hit:  the flow was run before, so the row comes from the cache (and the plan from wherever the runtime keeps it);
//  - miss: the flow's DSL was changed and published again just before, so the run reads D1 and compiles.
// The two alternate request by request (hit, miss, miss, hit, …), so drift hits both alike. The difference of the
// medians is what the cache saves; the hit must not cost more than the miss it replaces.
// Run: `npm run bench -- flow-cache` (REPS=25 per size by default).
import { startRedis } from "../test/support/redis-server.ts";
import { startUpstashFront } from "../test/support/upstash-front.ts";
import { startDev } from "./dev.mjs";

const REPS = Number(process.env.REPS ?? 25);
const SIZES = (process.env.SIZES ?? "5,40,1000").split(",").map(Number);

/** start → `size - 2` text joiners in a chain → end (outputs the last joiner); `salt` changes the DSL's content. */
function flow(size: number, salt: number): unknown {
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
  let prevOut = "AGENT_USER_INPUT";
  for (let i = 0; i < size - 2; i++) {
    const id = `text-joiner::t${i}`;
    nodes.push({
      id,
      data: {
        nodeMeta: { nodeType: "b", aliasName: `T${i}` },
        nodeParam: { prompt: i === 0 ? `{{x}}#${salt}` : "{{x}}" },
        inputs: [
          { name: "x", schema: { type: "string", value: { type: "ref", content: { nodeId: prev, name: prevOut } } } },
        ],
        outputs: [{ name: "output", schema: { type: "string" } }],
      },
    });
    edges.push({ sourceNodeId: prev, targetNodeId: id });
    prev = id;
    prevOut = "output";
  }
  nodes.push({
    id: "node-end::e",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "E" },
      nodeParam: { outputMode: 0 },
      inputs: [
        { name: "out", schema: { type: "string", value: { type: "ref", content: { nodeId: prev, name: prevOut } } } },
      ],
    },
  });
  edges.push({ sourceNodeId: prev, targetNodeId: "node-end::e" });
  return { data: { nodes, edges } };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const stat = (xs: number[]) => ({
  median: +median(xs).toFixed(2),
  min: +Math.min(...xs).toFixed(2),
  max: +Math.max(...xs).toFixed(2),
});

const redis = await startRedis();
const front = await startUpstashFront({ redisPort: redis.port, token: "bench" });
const dev = await startDev({
  vars: { UPSTASH_REDIS_REST_URL: front.url, UPSTASH_REDIS_REST_TOKEN: front.token, CACHE_TIMEOUT_MS: "1000" },
});
const post = async (path: string, body: unknown, app = "d1590f30"): Promise<Record<string, unknown>> => {
  const res = await fetch(`${dev.base}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Consumer-Username": app },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
};
try {
  for (const size of SIZES) {
    let salt = 0;
    const added = await post("/workflow/v1/protocol/add", {
      app_id: "d1590f30",
      name: `c${size}`,
      description: "",
      data: flow(size, salt),
    });
    const flowId = (added.data as { flow_id: string }).flow_id;
    const publish = async (): Promise<void> => {
      const u = await post(`/workflow/v1/protocol/update/${flowId}`, { data: flow(size, ++salt) });
      const p = await post("/v1/publish", { flow_id: flowId, release_status: 1, plat: 1 }, "tenant01");
      if (u.code !== 0 || p.code !== 0) throw new Error(`publishing failed: ${JSON.stringify([u, p])}`);
    };
    const run = async (): Promise<number> => {
      const t = performance.now();
      const r = await post("/workflow/v1/chat/completions", {
        flow_id: flowId,
        stream: false,
        parameters: { AGENT_USER_INPUT: "q" },
      });
      const ms = performance.now() - t;
      if (r.code !== 0) throw new Error(`run failed: ${JSON.stringify(r).slice(0, 300)}`);
      return ms;
    };
    await publish();
    await post("/v1/auth", { flow_id: flowId, app_id: "d1590f30" }, "tenant01");
    for (let i = 0; i < 3; i++) await run(); // warm: JIT, the row and plan cached
    const hit: number[] = [];
    const miss: number[] = [];
    for (let i = 0; i < REPS; i++) {
      // ABBA: hit, miss, miss, hit, …
      for (const kind of i % 2 === 0 ? ["hit", "miss"] : ["miss", "hit"]) {
        if (kind === "miss") {
          await publish();
          miss.push(await run());
        } else {
          await run(); // the run after a publish re-fills the cache; the one after it is the measured hit
          hit.push(await run());
        }
      }
    }
    const saved = median(miss) - median(hit);
    console.log(
      JSON.stringify({
        figure: "flow_cache_end_to_end",
        nodes: size,
        reps: REPS,
        hit_ms: stat(hit),
        miss_ms: stat(miss),
        saved_ms: +saved.toFixed(2),
        hit_over_miss: +(median(hit) / median(miss)).toFixed(2),
      }),
    );
  }
} finally {
  await dev.stop();
  await front.close();
  await redis.stop();
}
process.exit(0);
