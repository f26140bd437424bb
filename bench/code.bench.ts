// Code node benchmarks (issue 4). Run: `node bench/code.bench.ts` (Node 22 strips the types).
// Prints a JSON line per figure; medians over several rounds.
//  * sandbox: one `runJs` of a main that returns its input, INCLUDING the fresh QuickJS runtime and context each
//    call creates and disposes (the module itself is loaded once per isolate; its cold load is reported apart);
//  * node: the added time of a JavaScript code node in a flow (start → code → end minus start → end);
//  * loop: `while (true) {}` stopped at its limit: overshoot over the limit, with the real clock and with a clock
//    frozen during execution (as on Cloudflare's edge, where the sandbox counts interrupt polls instead).
import { createJsSandbox } from "../src/durable/js-sandbox.ts";
import { compile } from "../src/engine/compile.ts";
import { Run } from "../src/engine/run.ts";
import { registry } from "../src/plugins/index.ts";

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] as number;
}
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const out = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));

const signal = new AbortController().signal;
const limits = (timeoutMs: number) => ({ timeoutMs, memoryBytes: 32 << 20, signal });
const ECHO = "function main(args) { return args; }";
const ARGS = { input: "hello", n: 42, list: [1, 2, 3], obj: { a: true } };

// ---- cold load -------------------------------------------------------------------------------------------------
const sandbox = createJsSandbox();
{
  const t0 = performance.now();
  await sandbox.runJs(ECHO, ARGS, limits(1000));
  out({
    figure: "sandbox cold first call (module load + compile + instantiate + run)",
    ms: r3(performance.now() - t0),
  });
}

// ---- sandbox call ----------------------------------------------------------------------------------------------
{
  for (let i = 0; i < 200; i++) await sandbox.runJs(ECHO, ARGS, limits(1000)); // warm-up
  const rounds: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < 5; r++) {
    const xs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await sandbox.runJs(ECHO, ARGS, limits(1000));
      xs.push(performance.now() - t0);
    }
    rounds.push(median(xs));
    all.push(...xs);
  }
  out({
    figure: "sandbox runJs echo, fresh runtime+context per call",
    median_ms: r3(median(rounds)),
    round_medians_ms: rounds.map(r3),
    p95_ms: r3(pct(all, 0.95)),
    target_ms: 2,
  });
}

// ---- the node in a flow ----------------------------------------------------------------------------------------
function flow(withCode: boolean): Json {
  const start = {
    id: "node-start::s",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "Start" },
      inputs: [],
      outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
      nodeParam: {},
    },
  };
  const ref = (nodeId: string, name: string): Json => ({
    type: "string",
    value: { type: "ref", content: { nodeId, name } },
  });
  const code = {
    id: "ifly-code::c",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "Code" },
      inputs: [{ name: "input", schema: ref("node-start::s", "AGENT_USER_INPUT") }],
      outputs: [{ name: "input", schema: { type: "string" } }],
      nodeParam: { code: ECHO, codeLanguage: "javascript" },
    },
  };
  const from = withCode ? "ifly-code::c" : "node-start::s";
  const end = {
    id: "node-end::e",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "End" },
      inputs: [{ name: "out", schema: ref(from, withCode ? "input" : "AGENT_USER_INPUT") }],
      outputs: [],
      nodeParam: { outputMode: 0 },
    },
  };
  const nodes: Json[] = withCode ? [start, code, end] : [start, end];
  const edges: Json[] = withCode
    ? [
        { sourceNodeId: "node-start::s", targetNodeId: "ifly-code::c" },
        { sourceNodeId: "ifly-code::c", targetNodeId: "node-end::e" },
      ]
    : [{ sourceNodeId: "node-start::s", targetNodeId: "node-end::e" }];
  return { data: { nodes, edges } };
}
{
  const plans = { bare: compile(flow(false), registry), code: compile(flow(true), registry) };
  const info = { sid: "b", eventId: "e", flowId: "f", appId: "a", uid: "u", chatId: "", isRelease: false, history: [] };
  const once = async (plan: (typeof plans)["bare"]): Promise<number> => {
    const t0 = performance.now();
    const run = new Run(plan, {
      registry,
      sid: "b",
      info,
      parameters: { AGENT_USER_INPUT: "hello" },
      sandbox,
      emit: () => undefined,
    });
    const o = await run.execute();
    if (o.status !== "completed") throw new Error(JSON.stringify(o));
    return performance.now() - t0;
  };
  for (let i = 0; i < 200; i++) {
    await once(plans.bare);
    await once(plans.code);
  }
  const bare: number[] = [];
  const code: number[] = [];
  for (let r = 0; r < 5; r++) {
    const b: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < 200; i++) {
      b.push(await once(plans.bare));
      c.push(await once(plans.code));
    }
    bare.push(median(b));
    code.push(median(c));
  }
  out({ figure: "flow start→end", median_ms: r3(median(bare)) });
  out({
    figure: "flow start→code(js echo)→end",
    median_ms: r3(median(code)),
    added_by_code_node_ms: r3(median(code) - median(bare)),
  });
}

// ---- infinite loop stopped at its limit ------------------------------------------------------------------------
async function loop(
  label: string,
  sb: ReturnType<typeof createJsSandbox>,
  limitMs: number,
  runs: number,
): Promise<void> {
  const over: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const code = await sb.runJs("function main() { while (true) {} }", {}, limits(limitMs)).then(
      () => 0,
      (e: { code?: number }) => e.code ?? -1,
    );
    if (code !== 21603) throw new Error(`expected 21603, got ${code}`);
    over.push(performance.now() - t0 - limitMs);
  }
  out({
    figure: `infinite loop, ${label}, limit ${limitMs} ms`,
    runs,
    overshoot_median_ms: r3(median(over)),
    overshoot_max_ms: r3(Math.max(...over)),
    overshoot_median_pct: r3((median(over) / limitMs) * 100),
  });
}
for (const limit of [100, 1000]) await loop("real clock", sandbox, limit, limit >= 1000 ? 5 : 9);
const frozen = createJsSandbox({ now: () => 0 });
for (const limit of [100, 1000])
  await loop("clock frozen during execution (edge)", frozen, limit, limit >= 1000 ? 5 : 9);
