// Issue 15, memory: what the serving process keeps per completed run. One `wrangler dev` per flow kind; runs are sent
// at concurrency 50 (open chat, not streamed) and after each checkpoint (MEMORY_N, default 1000,5000) the runtime is
// left idle SETTLE_S seconds (RSS and open files sampled every 10 s meanwhile: finished run objects stay resident,
// each with its SQLite files open, until workerd evicts them) before the RSS of its workerd process is read. Flow
// kinds: "logic" (example-core-if-else-branch.json: no I/O, a run ends in its first turn and sets no alarm) and "llm"
// (start → LLM node on the fake provider here → end: a run with I/O, which sets a watchdog alarm and then its
// retention alarm). Failed runs are counted by code (HTTP status / code).
// Run: `npm run bench -- memory` (MEMORY_N=1000,5000,20000 MEMORY_KINDS=llm,logic SETTLE_S=15).
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { llmFlow } from "./flows.mjs";
import { workerdPids } from "./proc.mjs";

const CHECKPOINTS = (process.env.MEMORY_N ?? "1000,5000").split(",").map(Number);
const KINDS = (process.env.MEMORY_KINDS ?? "llm,logic").split(",");
const SETTLE_S = Number(process.env.SETTLE_S ?? 15);
const CONCURRENCY = 50;
const VARS = JSON.parse(process.env.VARS ?? "{}");

const provider = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write(
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "ok" }, finish_reason: null }] })}\n\n`,
    );
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
});
await new Promise((r) => provider.listen(0, "127.0.0.1", r));
const providerUrl = `http://127.0.0.1:${provider.address().port}`;

const llmFlowData = llmFlow(providerUrl);
const flows = {
  llm: { data: llmFlowData, parameters: { AGENT_USER_INPUT: "q" } },
  logic: {
    data: JSON.parse(readFileSync(join(root, "examples", "example-core-if-else-branch.json"), "utf8")),
    parameters: { AGENT_USER_INPUT: "bench", score: 80 },
  },
};

/** RSS (MB) and open files of the workerd process that runs the worker (the larger of wrangler's two) */
function usage(pid) {
  const all = [];
  for (const c of workerdPids(pid)) {
    try {
      all.push({
        rss: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c}/status`, "utf8"))?.[1] ?? 0) / 1024,
        fds: readdirSync(`/proc/${c}/fd`).length,
      });
    } catch {} // ended meanwhile
  }
  return all.sort((a, b) => b.rss - a.rss)[0] ?? { rss: 0, fds: 0 };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const kind of KINDS) {
  const dev = await startDev({ vars: { ALLOW_PRIVATE_FETCH: "true", ...VARS } });
  try {
    const id = await publishFlow(dev.base, flows[kind].data);
    const body = JSON.stringify({ flow_id: id, stream: false, parameters: flows[kind].parameters });
    let done = 0;
    let failed = 0;
    const failures = {};
    const send = async (n) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < n) {
            next++;
            const res = await fetch(`${dev.base}/workflow/v1/chat/completions`, {
              method: "POST",
              headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
              body,
            });
            const j = await res.json().catch(() => ({}));
            if (j.code !== 0) {
              failed++;
              const k = `${res.status}/${j.code}`;
              failures[k] = (failures[k] ?? 0) + 1;
            }
            done++;
          }
        }),
      );
    };
    await send(50); // warm-up: modules loaded, caches filled
    await sleep(SETTLE_S * 1000);
    const base = usage(dev.pid);
    const points = [];
    for (const n of CHECKPOINTS) {
      const t0 = performance.now();
      await send(n - (done - 50));
      const wall = (performance.now() - t0) / 1000;
      // while idle: RSS and open files every 10 s (objects leave as workerd evicts them)
      const timeline = [];
      for (let waited = 0; waited < SETTLE_S; waited += 10) {
        await sleep(Math.min(10, SETTLE_S - waited) * 1000);
        const u = usage(dev.pid);
        timeline.push([Math.min(waited + 10, SETTLE_S), Math.round(u.rss), u.fds]);
      }
      const u = usage(dev.pid);
      points.push({
        runs: done - 50,
        rss_mb: Math.round(u.rss),
        kept_mb_per_run: +((u.rss - base.rss) / (done - 50)).toFixed(3),
        open_files: u.fds,
        send_s: +wall.toFixed(1),
        idle_timeline_s_rss_files: timeline,
      });
    }
    console.log(
      JSON.stringify({
        figure: "memory_per_completed_run",
        kind,
        vars: VARS,
        settle_s: SETTLE_S,
        baseline_rss_mb: Math.round(base.rss),
        baseline_open_files: base.fds,
        points,
        failed,
        failures,
        loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
      }),
    );
  } finally {
    await dev.stop();
  }
}
provider.close();
