// Issue 15, cold start, on workerd itself: where the first JavaScript code node's extra time goes. Each trial starts
// a fresh `wrangler dev` serving bench/code-cold (the sandbox alone) and asks it once: loading the sandbox, the first
// guest call and a second one (workerd's clock moves in whole milliseconds, so the trials' medians are what to read).
//
// With PERF=1 (Linux `perf` allowed to attach to the process) each trial is also sampled by `perf record -g` while
// the request runs, and the samples of the thread that ran it are sorted into what V8 was doing: compiling
// WebAssembly functions on their first call ("wasm lazy compilation": V8 compiles QuickJS's functions lazily, on the
// thread that calls them), instantiating the module, optimising compiles on that thread, parsing JavaScript (the
// glue), running compiled code, the kernel's page faults, the garbage collector, the rest. V8's background threads (optimising compiles of
// hot functions) are reported apart: they are not on the request's path.
//
//   export PATH=$PWD/node_modules/.bin:$PATH CLOUDFLARE_CF_FETCH_ENABLED=false
//   node bench/code-cold-workerd.mjs            # TRIALS=5
//   PERF=1 node bench/code-cold-workerd.mjs
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDev } from "./dev.mjs";
import { median } from "./load.mjs";
import { workerdPids } from "./proc.mjs";

const TRIALS = Number(process.env.TRIALS ?? 5);
const PERF = process.env.PERF === "1";
const cwd = join(import.meta.dirname, "code-cold");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What a sample of the request's thread was doing, from its call chain (innermost frame first). */
const KINDS = [
  ["wasm lazy compilation", /wasm::CompileLazy|LiftoffCompiler|ExecuteLiftoffCompilation/],
  ["wasm instantiation", /InstanceBuilder|WasmInstanceObject::New|ImportWrapper|CompileWasmImportCallWrapper/],
  [
    "optimising compiles on this thread (Maglev, TurboFan: on-stack replacement, wrappers)",
    /Maglev|turboshaft|compiler::/,
  ],
  ["JavaScript parse and bytecode", /Parser::|Scanner::|BytecodeGenerator|Compiler::Compile/],
  ["garbage collection", /Heap::|Scavenger|MarkCompact|MinorMS|cppgc::internal::(Marker|Sweeper)/],
  ["kernel page faults", /page_fault|handle_mm_fault|clear_page/],
  ["running code (JavaScript and WebAssembly)", /\[JIT\]|Builtins_|wasm-function|\[unknown\]/],
];

function classify(script, tid) {
  const kinds = new Map();
  let total = 0;
  for (const block of script.split("\n\n")) {
    const lines = block.trim().split("\n");
    const head = lines[0]?.trim().split(/\s+/) ?? [];
    if (head[head.length - 1] !== String(tid)) continue;
    total++;
    const chain = lines.slice(1).join("\n");
    const kind = KINDS.find(([, re]) => re.test(chain))?.[0] ?? "other (workerd, the runtime's C++)";
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return { total, kinds };
}

async function trial() {
  const dev = await startDev({ cwd, seed: false });
  let recorder;
  const data = PERF ? join(mkdtempSync(join(tmpdir(), "code-cold-")), "perf.data") : undefined;
  try {
    const pids = workerdPids(dev.pid);
    if (PERF) {
      recorder = spawn("perf", ["record", "-F", "10000", "-g", "-o", data, "-p", pids.join(",")], { stdio: "ignore" });
      await sleep(1000); // perf attached
    }
    const res = await fetch(`${dev.base}/cold`);
    const times = await res.json();
    if (!PERF) return { times };
    recorder.kill("SIGINT");
    await new Promise((r) => recorder.on("exit", r));
    const script = spawnSync("perf", ["script", "-i", data, "-F", "comm,tid,ip,sym"], {
      encoding: "utf8",
      maxBuffer: 512 << 20,
    }).stdout;
    // the request's thread: the workerd thread with the most samples (the others idle while it runs)
    const counts = new Map();
    for (const m of script.matchAll(/^(?!\t) *(\S.*?)\s+(\d+)\s*$/gm)) {
      const key = `${m[1]}\t${m[2]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const threads = [...counts].sort((a, b) => b[1] - a[1]);
    const main = threads.find(([k]) => k.startsWith("workerd\t"));
    const background = threads.filter(([k]) => k.startsWith("V8 ")).reduce((n, [, v]) => n + v, 0);
    const { total, kinds } = classify(script, Number(main[0].split("\t")[1]));
    return { times, total, kinds, background };
  } finally {
    if (recorder && recorder.exitCode === null) recorder.kill("SIGINT");
    await dev.stop();
    if (data) rmSync(join(data, ".."), { recursive: true, force: true });
  }
}

const trials = [];
for (let i = 0; i < TRIALS; i++) {
  const t = await trial();
  trials.push(t);
  console.error(`[code-cold] trial ${i + 1}/${TRIALS}: ${JSON.stringify(t.times)}`);
}
const field = (k) => trials.map((t) => t.times[k]);
const out = {
  figure: "first JavaScript code node in a fresh workerd isolate, step by step",
  trials: TRIALS,
  median_ms: {
    load: median(field("load_ms")),
    first_call: median(field("first_call_ms")),
    second_call: median(field("second_call_ms")),
  },
  range_ms: Object.fromEntries(
    ["load_ms", "first_call_ms", "second_call_ms"].map((k) => [k, [Math.min(...field(k)), Math.max(...field(k))]]),
  ),
};
if (PERF) {
  const sum = new Map();
  let total = 0;
  let background = 0;
  for (const t of trials) {
    total += t.total;
    background += t.background;
    for (const [k, v] of t.kinds) sum.set(k, (sum.get(k) ?? 0) + v);
  }
  out.request_thread_share = Object.fromEntries(
    [...sum].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, `${((100 * v) / total).toFixed(1)} %`]),
  );
  out.background_v8_samples_per_request_thread_sample = +(background / total).toFixed(2);
}
console.log(JSON.stringify(out, null, 2));
