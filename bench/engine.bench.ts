// Engine benchmarks of issue 2. Run: `npm run bench -- engine` (or `node bench/engine.bench.ts`).
// Prints a JSON line per figure; medians of several runs. Baseline measured in the same run: a bare async chain
// (one awaited promise per node), the floor under any promise-based scheduler.
import { z } from "zod";
import { compile } from "../src/engine/compile.ts";
import { definePlugin, type Plugin } from "../src/engine/plugin.ts";
import { Registry } from "../src/engine/registry.ts";
import { Run } from "../src/engine/run.ts";
import { plugins } from "../src/plugins/index.ts";

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const noop = definePlugin({ type: "noop", params: z.record(z.string(), z.unknown()), run: () => ({ outputs: {} }) });
const registry = new Registry([...plugins, noop as unknown as Plugin<never>]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function node(id: string, extra: Record<string, Json> = {}): Json {
  return {
    id,
    data: { nodeMeta: { nodeType: "bench", aliasName: id }, inputs: [], outputs: [], nodeParam: {}, ...extra },
  };
}

function startNode(): Json {
  return {
    id: "node-start::s",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "Start" },
      inputs: [],
      outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
      nodeParam: {},
    },
  };
}

function endNode(): Json {
  return {
    id: "node-end::e",
    data: { nodeMeta: { nodeType: "b", aliasName: "End" }, inputs: [], outputs: [], nodeParam: { outputMode: 0 } },
  };
}

/** Mixed flow of about `size` nodes: chains, fan-outs of 4 joined again, and if-else diamonds. */
function mixedFlow(size: number): Json {
  const nodes: Json[] = [startNode()];
  const edges: Json[] = [];
  let prev = "node-start::s";
  let k = 0;
  const id = (t: string): string => `${t}::n${k++}`;
  while (nodes.length < size - 6) {
    const pattern = k % 3;
    if (pattern === 0) {
      for (let i = 0; i < 5; i++) {
        const n = id("noop");
        nodes.push(node(n));
        edges.push({ sourceNodeId: prev, targetNodeId: n });
        prev = n;
      }
    } else if (pattern === 1) {
      const join = id("noop");
      for (let i = 0; i < 4; i++) {
        const n = id("noop");
        nodes.push(node(n));
        edges.push({ sourceNodeId: prev, targetNodeId: n }, { sourceNodeId: n, targetNodeId: join });
      }
      nodes.push(node(join));
      prev = join;
    } else {
      const [branch, yes, no, join] = [id("if-else"), id("noop"), id("noop"), id("noop")];
      nodes.push(ifElse(branch), node(yes), node(no), node(join));
      edges.push(
        { sourceNodeId: prev, targetNodeId: branch },
        { sourceNodeId: branch, targetNodeId: yes, sourceHandle: `intent_chain|branch_one_of::${branch}-yes` },
        { sourceNodeId: branch, targetNodeId: no, sourceHandle: `intent_chain|branch_one_of::${branch}-no` },
        { sourceNodeId: yes, targetNodeId: join },
        { sourceNodeId: no, targetNodeId: join },
      );
      prev = join;
    }
  }
  nodes.push(endNode());
  edges.push({ sourceNodeId: prev, targetNodeId: "node-end::e" });
  return { data: { nodes, edges } };
}

function ifElse(id: string): Json {
  return {
    id,
    data: {
      nodeMeta: { nodeType: "b", aliasName: id },
      inputs: [
        { id: `${id}-l`, name: "a", schema: { type: "integer", value: { type: "literal", content: 1 } } },
        { id: `${id}-r`, name: "b", schema: { type: "integer", value: { type: "literal", content: 1 } } },
      ],
      outputs: [],
      nodeParam: {
        cases: [
          {
            id: `branch_one_of::${id}-yes`,
            level: 1,
            logicalOperator: "and",
            conditions: [{ leftVarIndex: `${id}-l`, rightVarIndex: `${id}-r`, compareOperator: "eq" }],
          },
          { id: `branch_one_of::${id}-no`, level: 999, logicalOperator: "and", conditions: [] },
        ],
      },
    },
  };
}

function chainFlow(size: number): Json {
  const nodes: Json[] = [startNode()];
  const edges: Json[] = [];
  let prev = "node-start::s";
  for (let i = 0; i < size - 2; i++) {
    const n = `noop::c${i}`;
    nodes.push(node(n));
    edges.push({ sourceNodeId: prev, targetNodeId: n });
    prev = n;
  }
  nodes.push(endNode());
  edges.push({ sourceNodeId: prev, targetNodeId: "node-end::e" });
  return { data: { nodes, edges } };
}

/** 30 consecutive if-else diamonds: 2^30 start→end paths. */
function diamonds(count: number): Json {
  const nodes: Json[] = [startNode()];
  const edges: Json[] = [];
  let prev = "node-start::s";
  for (let i = 0; i < count; i++) {
    const [b, y, n, j] = [`if-else::d${i}`, `noop::y${i}`, `noop::n${i}`, `noop::j${i}`];
    nodes.push(ifElse(b), node(y), node(n), node(j));
    edges.push(
      { sourceNodeId: prev, targetNodeId: b },
      { sourceNodeId: b, targetNodeId: y, sourceHandle: `branch_one_of::${b}-yes` },
      { sourceNodeId: b, targetNodeId: n, sourceHandle: `branch_one_of::${b}-no` },
      { sourceNodeId: y, targetNodeId: j },
      { sourceNodeId: n, targetNodeId: j },
    );
    prev = j;
  }
  nodes.push(endNode());
  edges.push({ sourceNodeId: prev, targetNodeId: "node-end::e" });
  return { data: { nodes, edges } };
}

async function runPlan(plan: ReturnType<typeof compile>): Promise<number> {
  let frames = 0;
  const run = new Run(plan, {
    registry,
    sid: "bench",
    info: { sid: "bench", eventId: "e", flowId: "f", appId: "a", uid: "u", chatId: "", isRelease: false, history: [] },
    parameters: { AGENT_USER_INPUT: "x" },
    emit: () => {
      frames++;
    },
  });
  const outcome = await run.execute();
  if (outcome.status !== "completed") throw new Error(`bench run ${outcome.status}: ${JSON.stringify(outcome)}`);
  return frames;
}

async function baselineChain(size: number): Promise<void> {
  let p: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < size; i++) p = p.then(() => ({ outputs: {} }));
  await p;
}

async function time(fn: () => unknown, runs: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

async function main(): Promise<void> {
  const results: Record<string, unknown>[] = [];
  const report = (r: Record<string, unknown>): void => {
    results.push(r);
    console.log(JSON.stringify(r));
  };

  // compile 1,000 mixed nodes
  const mixed = mixedFlow(1000);
  const mixedCount = (mixed as { data: { nodes: unknown[] } }).data.nodes.length;
  for (let i = 0; i < 20; i++) compile(mixed, registry);
  const compileMs = await time(() => compile(mixed, registry), 50);
  report({
    figure: "compile_mixed",
    nodes: mixedCount,
    median_ms: +compileMs.toFixed(3),
    target_ms: 10,
    ratio_to_target: +(compileMs / 10).toFixed(3),
  });

  // run no-op flows
  for (const size of [1000, 10000]) {
    for (const [name, dsl] of [
      ["chain", chainFlow(size)],
      ["mixed", mixedFlow(size)],
    ] as const) {
      const plan = compile(dsl, registry);
      const n = plan.nodes.length;
      for (let i = 0; i < 3; i++) await runPlan(plan);
      const globalGc = (globalThis as { gc?: () => void }).gc;
      globalGc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let peak = heapBefore;
      const runMs = await time(
        async () => {
          await runPlan(plan);
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        },
        size >= 10000 ? 7 : 15,
      );
      const baseMs = await time(() => baselineChain(n), size >= 10000 ? 7 : 15);
      const perSec = n / (runMs / 1000);
      report({
        figure: `run_${name}`,
        nodes: n,
        median_ms: +runMs.toFixed(3),
        nodes_per_sec: Math.round(perSec),
        us_per_node: +((runMs * 1000) / n).toFixed(3),
        target_nodes_per_sec: 200000,
        ratio_to_target: +(perSec / 200000).toFixed(2),
        baseline_async_chain_ms: +baseMs.toFixed(3),
        ratio_to_baseline: +(runMs / baseMs).toFixed(2),
        heap_delta_mb: +((peak - heapBefore) / 1048576).toFixed(2),
      });
    }
  }

  // 30 if-else diamonds: compile + run
  const d30 = diamonds(30);
  for (let i = 0; i < 10; i++) await runPlan(compile(d30, registry));
  const dMs = await time(() => runPlan(compile(d30, registry)), 30);
  report({
    figure: "diamonds_30_compile_and_run",
    nodes: 30 * 4 + 2,
    paths: 2 ** 30,
    median_ms: +dMs.toFixed(3),
    target_ms: 5,
    ratio_to_target: +(dMs / 5).toFixed(3),
  });

  // stack depth: a 50,000-node chain must not overflow
  const deep = compile(chainFlow(50000), registry);
  const deepMs = await time(() => runPlan(deep), 3);
  report({ figure: "run_chain_deep", nodes: 50000, median_ms: +deepMs.toFixed(1), ok: true });
}

await main();
