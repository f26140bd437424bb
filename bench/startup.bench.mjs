// Issue 15, cold start, through `wrangler dev` (one workerd process; a fresh one per trial is a fresh isolate):
//  - bundle start-up: from spawning `wrangler dev` to the first /health answer (wrangler's bundling, workerd's
//    start, the modules' top-level evaluation), for this worker and for the bare ceiling worker (bench/ceiling), in
//    alternating order (ABBA); the difference is what this bundle costs over an almost empty one. The next /health
//    (the isolate started) is reported apart.
//  - first code node: in the fresh isolate, a few start → end runs warm the run path; then the first run of a
//    start → code (JavaScript) → end flow (the sandbox cold) against the first run of a second such flow right after
//    (the sandbox warm; both runs are their flow's first: row read, plan compiled); warm = the median of 15 later
//    runs. Wall time of a non-streaming open run as the client sees it.
// COMPARE_DIR=<a checkout of another commit, node_modules linked> adds that checkout to both figures, alternated.
// Run: `npm run bench -- startup` (STARTUP_TRIALS=4 by default).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { median } from "./load.mjs";
import { cpuMs, workerdPids } from "./proc.mjs";

const TRIALS = Number(process.env.STARTUP_TRIALS ?? 4);
const COMPARE = process.env.COMPARE_DIR;
const now = () => performance.now();

const ref = (nodeId, name) => ({ type: "string", value: { type: "ref", content: { nodeId, name } } });
function flow(withCode, variant = "") {
  const start = {
    id: "node-start::s",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "S" },
      outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
    },
  };
  const code = {
    id: "ifly-code::c",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "C" },
      inputs: [{ name: "input", schema: ref("node-start::s", "AGENT_USER_INPUT") }],
      outputs: [{ name: "input", schema: { type: "string" } }],
      nodeParam: { code: `function main(args) { return ${variant || "args"}; }`, codeLanguage: "javascript" },
    },
  };
  const from = withCode ? "ifly-code::c" : "node-start::s";
  const end = {
    id: "node-end::e",
    data: {
      nodeMeta: { nodeType: "b", aliasName: variant ? `E${variant.length}` : "E" },
      inputs: [{ name: "out", schema: ref(from, withCode ? "input" : "AGENT_USER_INPUT") }],
      nodeParam: { outputMode: 0 },
    },
  };
  const nodes = withCode ? [start, code, end] : [start, end];
  const edges = nodes.slice(1).map((n, i) => ({ sourceNodeId: nodes[i].id, targetNodeId: n.id }));
  return { data: { nodes, edges } };
}

async function timeToHealth(cwd, seed) {
  const t0 = now();
  const dev = await startDev({ cwd, seed });
  const ready = now() - t0; // startDev returns at the first /health answer
  const cpu = cpuMs(workerdPids(dev.pid)); // the workerd processes, user + system (10 ms resolution)
  const t1 = now();
  await fetch(`${dev.base}/health`);
  return { dev, ready_ms: ready, cpu_ms: cpu, second_health_ms: now() - t1 };
}

async function run(base, id) {
  const t0 = now();
  const res = await fetch(`${base}/workflow/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
    body: JSON.stringify({ flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: "hello" } }),
  });
  const body = await res.json();
  if (body.code !== 0) throw new Error(`run failed: ${JSON.stringify(body).slice(0, 300)}`);
  return now() - t0;
}

async function codeTrial(cwd) {
  const { dev } = await timeToHealth(cwd, true);
  try {
    const bare = await publishFlow(dev.base, flow(false));
    // two code flows that differ in their code: the first run of each is also the first of its flow (its row read,
    // its plan compiled and cached), so the second one's first run is the same minus the sandbox's cold start
    const codeA = await publishFlow(dev.base, flow(true, "args"));
    const codeB = await publishFlow(dev.base, flow(true, "{ ...args }"));
    const bare2 = await publishFlow(dev.base, flow(false, "b"));
    for (let i = 0; i < 3; i++) await run(dev.base, bare); // the run path (route, object, storage) warm
    const firstA = await run(dev.base, codeA);
    const firstB = await run(dev.base, codeB);
    const firstBare = await run(dev.base, bare2);
    const warm = [];
    const bareWarm = [];
    for (let i = 0; i < 15; i++) {
      warm.push(await run(dev.base, codeA));
      bareWarm.push(await run(dev.base, bare));
    }
    return {
      first_ms: firstA,
      first_other_code_flow_ms: firstB,
      first_other_bare_flow_ms: firstBare,
      warm_ms: median(warm),
      // the first code node's cost over a warm sandbox's, both runs the first of their flow
      over_warm_ms: firstA - firstB,
      // the same against flows without a code node: (first code run − first bare run) − (warm code − warm bare)
      cold_penalty_ms: firstA - firstBare - (median(warm) - median(bareWarm)),
      bare_warm_ms: median(bareWarm),
    };
  } finally {
    await dev.stop();
  }
}

const r1 = (x) => Math.round(x * 10) / 10;
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// bundle start-up, order alternated (ABBA): this worker, the ceiling (and the compared checkout), then reversed
const ceilingDir = join(root, "bench", "ceiling");
const starters = { project: root, ceiling: ceilingDir, ...(COMPARE ? { compare: COMPARE } : {}) };
const startup = Object.fromEntries(Object.keys(starters).map((k) => [k, []]));
const nextHealth = Object.fromEntries(Object.keys(starters).map((k) => [k, []]));
const cpu = Object.fromEntries(Object.keys(starters).map((k) => [k, []]));
for (let i = 0; i < TRIALS; i++) {
  const names = Object.keys(starters);
  for (const which of i % 2 === 0 ? names : [...names].reverse()) {
    const { dev, ready_ms, cpu_ms, second_health_ms } = await timeToHealth(starters[which], false);
    startup[which].push(ready_ms);
    cpu[which].push(cpu_ms);
    nextHealth[which].push(second_health_ms);
    await dev.stop();
  }
}
const summary = (xs) => ({ median: r1(median(xs)), min: r1(Math.min(...xs)), max: r1(Math.max(...xs)) });
console.log(
  JSON.stringify({
    figure: "startup_to_first_health_ms",
    trials: TRIALS,
    ...Object.fromEntries(Object.entries(startup).map(([k, xs]) => [k, summary(xs)])),
    project_minus_ceiling_ms: r1(median(startup.project) - median(startup.ceiling)),
    // CPU of the workerd processes from their start to the first /health answered (10 ms resolution)
    workerd_cpu_ms: Object.fromEntries(Object.entries(cpu).map(([k, xs]) => [k, summary(xs)])),
    // a /health right after the first one: the isolate has started by then
    next_health_ms: Object.fromEntries(Object.entries(nextHealth).map(([k, xs]) => [k, summary(xs)])),
    ...(COMPARE ? { project_minus_compare_ms: r1(median(startup.project) - median(startup.compare)) } : {}),
    loadavg: load(),
  }),
);

// first code node in a fresh isolate
const sides = COMPARE ? { this: root, compare: COMPARE } : { this: root };
const trials = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
for (let i = 0; i < TRIALS; i++) {
  const names = Object.keys(sides);
  const order = i % 2 === 0 ? names : [...names].reverse();
  for (const name of order) trials[name].push(await codeTrial(sides[name]));
}
for (const [name, list] of Object.entries(trials)) {
  console.log(
    JSON.stringify({
      figure: "first_code_node_over_warm_ms",
      side: name,
      dir: sides[name],
      trials: list.length,
      cold_penalty: summary(list.map((t) => t.cold_penalty_ms)),
      over_warm: summary(list.map((t) => t.over_warm_ms)),
      first: summary(list.map((t) => t.first_ms)),
      first_other_code_flow: summary(list.map((t) => t.first_other_code_flow_ms)),
      first_other_bare_flow: summary(list.map((t) => t.first_other_bare_flow_ms)),
      warm: summary(list.map((t) => t.warm_ms)),
      bare_warm: summary(list.map((t) => t.bare_warm_ms)),
      target_ms: 10,
      loadavg: load(),
    }),
  );
}
