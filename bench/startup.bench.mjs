// Issue 15, cold start, through `wrangler dev` (one workerd process; a fresh one per trial is a fresh isolate):
//  - bundle start-up: from spawning `wrangler dev` to the first /health answer, for this worker and for the bare
//    ceiling worker (bench/ceiling: Hono-free, one Durable Object), in alternating order (ABBA); the difference is
//    what this bundle's size and top-level evaluation cost over an empty worker. The first /health's own latency
//    (the isolate's start: the modules' top-level evaluation) is reported apart.
//  - first code node: in the fresh isolate, a few start → end runs warm the run path; then the first
//    start → code (JavaScript) → end run, against the median of 15 later runs of the same flow (warm). Wall time of
//    a non-streaming open run as the client sees it.
// COMPARE_DIR=<a checkout of another commit> alternates that checkout with this one for the code-node figure (ABBA).
// Run: `npm run bench -- startup` (STARTUP_TRIALS=4 by default).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { median } from "./load.mjs";

const TRIALS = Number(process.env.STARTUP_TRIALS ?? 4);
const COMPARE = process.env.COMPARE_DIR;
const now = () => performance.now();

const ref = (nodeId, name) => ({ type: "string", value: { type: "ref", content: { nodeId, name } } });
function flow(withCode) {
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
      nodeParam: { code: "function main(args) { return args; }", codeLanguage: "javascript" },
    },
  };
  const from = withCode ? "ifly-code::c" : "node-start::s";
  const end = {
    id: "node-end::e",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "E" },
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
  const t1 = now();
  await fetch(`${dev.base}/health`);
  return { dev, ready_ms: ready, second_health_ms: now() - t1 };
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
    const code = await publishFlow(dev.base, flow(true));
    for (let i = 0; i < 3; i++) await run(dev.base, bare); // the run path (route, object, storage) warm
    const first = await run(dev.base, code);
    const warm = [];
    const bareWarm = [];
    for (let i = 0; i < 15; i++) {
      warm.push(await run(dev.base, code));
      bareWarm.push(await run(dev.base, bare));
    }
    return {
      first_ms: first,
      warm_ms: median(warm),
      over_warm_ms: first - median(warm),
      bare_warm_ms: median(bareWarm),
    };
  } finally {
    await dev.stop();
  }
}

const r1 = (x) => Math.round(x * 10) / 10;
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// bundle start-up, ABBA: project, ceiling, ceiling, project, …
const ceilingDir = join(root, "bench", "ceiling");
const startup = { project: [], ceiling: [] };
for (let i = 0; i < TRIALS; i++) {
  const order = i % 2 === 0 ? ["project", "ceiling"] : ["ceiling", "project"];
  for (const which of order) {
    const { dev, ready_ms } = await timeToHealth(which === "project" ? root : ceilingDir, false);
    startup[which].push(ready_ms);
    await dev.stop();
  }
}
const summary = (xs) => ({ median: r1(median(xs)), min: r1(Math.min(...xs)), max: r1(Math.max(...xs)) });
console.log(
  JSON.stringify({
    figure: "startup_to_first_health_ms",
    trials: TRIALS,
    project: summary(startup.project),
    ceiling: summary(startup.ceiling),
    project_minus_ceiling_ms: r1(median(startup.project) - median(startup.ceiling)),
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
      over_warm: summary(list.map((t) => t.over_warm_ms)),
      first: summary(list.map((t) => t.first_ms)),
      warm: summary(list.map((t) => t.warm_ms)),
      bare_warm: summary(list.map((t) => t.bare_warm_ms)),
      target_ms: 10,
      loadavg: load(),
    }),
  );
}
