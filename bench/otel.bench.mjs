// Issue 17: what trace export costs a run. The webhook benchmark's flow and request (bench/peers: a sync webhook,
// bearer token, no rate limit; start → uppercase → branch → end) against two `wrangler dev` instances started side by
// side, one with OTEL_EXPORTER_OTLP_ENDPOINT pointed at a collector on loopback (a separate Node process that accepts
// OTLP/HTTP and counts what it gets), one without. Measured in alternating order (ABBA: off-on, on-off, …) so drift
// of a shared machine falls on both; PAIRS pairs of SECONDS each at CONCURRENCY. Reports runs per second of each
// (medians with ranges), the per-pair ratio on/off (median and range), p50/p99 latency, and the CPU time the
// runtime's processes (wrangler and workerd, from /proc) spent per run, which a busy machine disturbs less.
// Goal: on ≥ 0.95 × off.
//
//   npm run bench -- otel                       # PAIRS=8 SECONDS=10 CONCURRENCY=10
//   PAIRS=2 SECONDS=3 npm run bench -- otel     # a short trial
import { spawn } from "node:child_process";
import { startDev } from "./dev.mjs";
import { load, median } from "./load.mjs";
import { oursRequest, prepareOurs } from "./peers/ours.mjs";
import { treeCpuMs } from "./proc.mjs";

const PAIRS = Number(process.env.PAIRS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 10);

/** the collector: its own process, so that receiving spans does not share the load generator's event loop */
async function startCollector() {
  const code = `
    import { createServer } from "node:http";
    let requests = 0, bytes = 0;
    const s = createServer((req, res) => {
      if (req.method === "GET") { res.end(JSON.stringify({ requests, bytes })); return; }
      req.on("data", (c) => (bytes += c.length));
      req.on("end", () => { requests++; res.writeHead(200, { "Content-Type": "application/x-protobuf" }); res.end(); });
    });
    s.listen(0, "127.0.0.1", () => console.log(s.address().port));
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve) => child.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    stats: async () => (await fetch(url)).json(),
    stop: () => child.kill("SIGTERM"),
  };
}

/** the peer benchmark's sync webhook (bench/peers/ours.mjs), as a request for `load` */
async function prepareHook(base) {
  const { url, headers, body } = oursRequest(base, await prepareOurs(base));
  // load() sets its own Content-Type
  return { url, headers: { authorization: headers.authorization }, body };
}

const collector = await startCollector();
const off = await startDev();
const on = await startDev({ vars: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: "bench" } });
try {
  const targets = { off: await prepareHook(off.base), on: await prepareHook(on.base) };
  for (const t of Object.values(targets)) await load({ ...t, concurrency: CONCURRENCY, seconds: 2 });
  const runs = { off: [], on: [] };
  const ratios = [];
  const cpuRatios = [];
  const pids = { off: off.pid, on: on.pid };
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? ["off", "on"] : ["on", "off"];
    const pair = {};
    const cpu = {};
    for (const name of order) {
      const before = treeCpuMs(pids[name]);
      const r = await load({ ...targets[name], concurrency: CONCURRENCY, seconds: SECONDS });
      // the runtime's CPU per run: less sensitive to a busy machine than runs per second
      r.cpuPerRun = (treeCpuMs(pids[name]) - before) / r.requests;
      runs[name].push(r);
      pair[name] = r.rps;
      cpu[name] = r.cpuPerRun;
    }
    ratios.push(pair.on / pair.off);
    cpuRatios.push(cpu.on / cpu.off);
    console.error(
      `[otel] pair ${p + 1}/${PAIRS}: off ${pair.off.toFixed(1)} on ${pair.on.toFixed(1)} runs/s; ` +
        `CPU per run off ${cpu.off.toFixed(2)} on ${cpu.on.toFixed(2)} ms`,
    );
  }
  // let the last exports land before reading the collector's count
  await new Promise((r) => setTimeout(r, 1500));
  const exported = await collector.stats();
  const summary = (list) => ({
    rps: +median(list.map((x) => x.rps)).toFixed(1),
    rps_range: [+Math.min(...list.map((x) => x.rps)).toFixed(1), +Math.max(...list.map((x) => x.rps)).toFixed(1)],
    p50_ms: +median(list.map((x) => x.p50)).toFixed(2),
    p99_ms: +median(list.map((x) => x.p99)).toFixed(2),
    errors: list.reduce((n, x) => n + x.errors, 0),
    cpu_ms_per_run: +median(list.map((x) => x.cpuPerRun)).toFixed(3),
  });
  const row = {
    figure: "otel",
    pairs: PAIRS,
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    off: summary(runs.off),
    on: summary(runs.on),
    ratio_on_off: +median(ratios).toFixed(3),
    ratio_range: [+Math.min(...ratios).toFixed(3), +Math.max(...ratios).toFixed(3)],
    cpu_ratio_on_off: +median(cpuRatios).toFixed(3),
    cpu_ratio_range: [+Math.min(...cpuRatios).toFixed(3), +Math.max(...cpuRatios).toFixed(3)],
    collector: exported,
  };
  console.log(JSON.stringify(row));
  if (exported.requests === 0) {
    console.error("[otel] the collector received nothing: export was not on");
    process.exitCode = 1;
  }
} finally {
  await off.stop();
  await on.stop();
  collector.stop();
}
