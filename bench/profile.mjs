// Where a webhook run's CPU goes (issue 15): starts this runtime under `wrangler dev` with its inspector, drives the
// peer benchmark's sync webhook for a while, and records a V8 CPU profile of the worker's isolate (the Hono worker,
// the run Durable Object and the engine share it). Self time is summed per source module (from the bundle's
// `// path` markers) and per function, and printed per request.
//
//   node bench/profile.mjs            # SECONDS (10), CONCURRENCY (10), TOP (25), PROFILE_OUT (.cpuprofile to save)
//   TARGET=ceiling node bench/profile.mjs   # the same for the platform ceiling (bench/ceiling), for comparison
//
// What it cannot see: native work outside the isolate (SQLite, the RPC and storage machinery, D1's own worker);
// those show as "(program)" or not at all. Server CPU per request, native included, is the peer benchmark's figure.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import WebSocket from "ws";
import { freePort, root, startDev } from "./dev.mjs";
import { oursRequest, prepareOurs } from "./peers/ours.mjs";

const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 10);
const TOP = Number(process.env.TOP ?? 25);
const CEILING = process.env.TARGET === "ceiling";
const cwd = CEILING ? join(root, "bench", "ceiling") : root;

const inspector = await freePort();
const dev = await startDev({
  cwd,
  seed: !CEILING,
  probe: CEILING ? "POST" : "GET",
  args: ["--inspector-port", String(inspector), "--log-level", "warn"],
});
const base = dev.base;
try {
  const target = CEILING
    ? { url: `${base}/`, headers: { "content-type": "application/json" }, body: "{}" }
    : oursRequest(base, await prepareOurs(base));
  const list = await (await fetch(`http://127.0.0.1:${inspector}/json`)).json();
  // wrangler's inspector proxy wants an Origin header, which Node's own WebSocket does not send
  const ws = new WebSocket(list[0].webSocketDebuggerUrl, { origin: `http://127.0.0.1:${inspector}` });
  await new Promise((r, j) => {
    ws.once("open", r);
    ws.once("error", j);
  });
  let seq = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(String(m));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((r) => {
      const id = ++seq;
      pending.set(id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  // warm the isolate first (plan cache, JIT), then profile a steady window
  await run(target, 3);
  await send("Profiler.start");
  const done = await run(target, SECONDS);
  const { result } = await send("Profiler.stop");
  if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, JSON.stringify(result.profile));
  await send("Debugger.enable");
  await report(result.profile, done, send);
  ws.close();
} finally {
  await dev.stop();
}
process.exit(0);

async function run({ url, headers, body }, seconds) {
  const r = await autocannon({
    url,
    connections: CONCURRENCY,
    duration: seconds,
    requests: [{ method: "POST", headers, body }],
  });
  if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.sent;
}

/** Self time per module and per function, in µs per request. */
async function report(profile, requests, send) {
  const total = profile.endTime - profile.startTime; // µs
  const dt = new Map(); // node id → self µs
  for (let i = 0; i < profile.samples.length; i++)
    dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const sources = new Map(); // scriptId → [line → module]
  async function moduleOf(frame) {
    if (!frame.url) return frame.functionName || "(native)";
    if (!sources.has(frame.scriptId)) {
      const { result } = await send("Debugger.getScriptSource", { scriptId: frame.scriptId });
      const lines = (result?.scriptSource ?? "").split("\n");
      let current = frame.url.split("/").pop();
      const map = lines.map((l) => {
        const m = /^\/\/ (.+\.(?:[cm]?[jt]s))$/.exec(l);
        if (m) current = m[1].replace(/^.*node_modules\//, "node_modules/");
        return current;
      });
      sources.set(frame.scriptId, map);
    }
    return sources.get(frame.scriptId)[frame.lineNumber] ?? frame.url;
  }
  const byModule = new Map();
  const byFn = new Map();
  for (const node of profile.nodes) {
    const self = dt.get(node.id) ?? 0;
    if (!self) continue;
    const mod = await moduleOf(node.callFrame);
    byModule.set(mod, (byModule.get(mod) ?? 0) + self);
    const fn = `${node.callFrame.functionName || "(anonymous)"} ${mod}:${node.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + self);
  }
  const per = (us) => (us / requests).toFixed(1).padStart(8);
  const idle = byModule.get("(idle)") ?? 0;
  console.log(
    `${requests} requests in ${(total / 1e6).toFixed(1)} s at c = ${CONCURRENCY}; isolate busy ${per(total - idle)} µs/request`,
  );
  console.log("\nself time by module (µs per request):");
  for (const [m, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${per(us)}  ${m}`);
  console.log("\nself time by function (µs per request):");
  for (const [f, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${per(us)}  ${f}`);
}
