// Issue 15, overload: one local runtime (`wrangler dev`, one workerd process) driven past what it can hold. RUNS
// non-streaming chat runs are sent at once; each run's LLM node waits HOLD_MS on the fake provider here, so every
// accepted run is in flight at the same time. Reported: how many were accepted and how they ended, how the others
// were refused (HTTP status, Retry-After, code), and whether anything was half-created — run objects on disk and
// run-history rows against the accepted runs — plus the workerd process's peak open files and RSS.
// Run: `npm run bench -- overload` (RUNS=5000 HOLD_MS=15000 by default; VARS='{"MAX_RUNS_IN_FLIGHT":"100000"}' puts the
// admission cap out of reach, to see the failure it prevents). RSS and open files are the largest workerd process's.
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { publishFlow, startDev } from "./dev.mjs";
import { llmFlow } from "./flows.mjs";

const RUNS = Number(process.env.RUNS ?? 5000);
const HOLD_MS = Number(process.env.HOLD_MS ?? 15000);
const VARS = JSON.parse(process.env.VARS ?? "{}");

// Node's fetch opens a connection per request in flight (no per-origin limit by default)
let providerCalls = 0;
const provider = createServer((req, res) => {
  providerCalls++;
  req.resume();
  req.on("end", () => {
    setTimeout(() => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "ok" }, finish_reason: null }] })}\n\n`,
      );
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
      res.end("data: [DONE]\n\n");
    }, HOLD_MS);
  });
});
await new Promise((r) => provider.listen({ port: 0, host: "127.0.0.1", backlog: 65535 }, r));
const providerUrl = `http://127.0.0.1:${provider.address().port}`;

const flow = llmFlow(providerUrl);

/** The workerd processes under `pid` (wrangler starts one, through a shell on some systems). */
function workerdPids(pid) {
  const out = [];
  const children = (p) => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const walk = (p) => {
    for (const c of children(p)) {
      try {
        if (readFileSync(`/proc/${c}/comm`, "utf8").trim() === "workerd") out.push(c);
      } catch {}
      walk(c);
    }
  };
  walk(pid);
  return out;
}
/** RSS and open files of each workerd process (wrangler runs two: its proxy and the worker's runtime) */
function sample(pids) {
  return pids.map((p) => {
    try {
      return {
        rss: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) * 1024,
        fds: readdirSync(`/proc/${p}/fd`).length,
      };
    } catch {
      return { rss: 0, fds: 0 };
    }
  });
}
/** Run objects with storage on disk (miniflare keeps one SQLite file per object under the persist directory). */
function objectFiles(persist) {
  const dir = readdirSync(join(persist, "v3", "do"), { withFileTypes: true }).find((d) => d.name.endsWith("RunObject"));
  if (!dir) return 0;
  const files = readdirSync(join(persist, "v3", "do", dir.name));
  if (process.env.DEBUG_FILES) console.error(files.slice(0, 10));
  return files.filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite").length;
}

const dev = await startDev({ vars: { ALLOW_PRIVATE_FETCH: "true", ...VARS } });
try {
  const pids = workerdPids(dev.pid);
  const id = await publishFlow(dev.base, flow);
  // a runtime pushed past its limit may stop answering: the history check then says so instead of waiting
  const history = async () => {
    try {
      const res = await fetch(`${dev.base}/flows/${id}/runs?limit=100`, {
        headers: { "X-Consumer-Username": "d1590f30" },
        signal: AbortSignal.timeout(30_000),
      });
      return (await res.json()).runs.length;
    } catch (e) {
      return `no answer (${e.cause?.code ?? e.name})`;
    }
  };
  const before = sample(pids);
  const peak = before.map((b) => ({ ...b }));
  const timer = setInterval(() => {
    sample(pids).forEach((s, i) => {
      peak[i].rss = Math.max(peak[i].rss, s.rss);
      peak[i].fds = Math.max(peak[i].fds, s.fds);
    });
  }, 250);
  const body = JSON.stringify({ flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: "q" } });
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: RUNS }, async () => {
      try {
        const res = await fetch(`${dev.base}/workflow/v1/chat/completions`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
          body,
        });
        const text = await res.text();
        if (process.env.DEBUG_FILES) console.error(res.status, text.slice(0, 400));
        let code = -1;
        try {
          code = JSON.parse(text).code;
        } catch {}
        return {
          status: res.status,
          code,
          retryAfter: res.headers.get("retry-after"),
          runId: res.headers.get("x-run-id"),
        };
      } catch (e) {
        return { status: 0, code: -2, error: String(e.cause?.code ?? e.message) };
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  clearInterval(timer);
  const tally = {};
  for (const r of results) {
    const k = `${r.status}/${r.code}${r.status === 503 ? `/retry-after=${r.retryAfter}` : ""}${r.error ? `/${r.error}` : ""}`;
    tally[k] = (tally[k] ?? 0) + 1;
  }
  const completed = results.filter((r) => r.status === 200 && r.code === 0).length;
  const refused = results.filter((r) => r.status === 503);
  // the history batch is written within about 100 ms of a run's end; the first page says whether rows exist at all
  await new Promise((r) => setTimeout(r, 1500));
  const rows = await history();
  const health = await fetch(`${dev.base}/health`, { signal: AbortSignal.timeout(10_000) }).then(
    (r) => r.status,
    (e) => `no answer (${e.cause?.code ?? e.name})`,
  );
  const objects = objectFiles(dev.persist);
  console.log(
    JSON.stringify({
      figure: "overload",
      runs: RUNS,
      hold_ms: HOLD_MS,
      vars: VARS,
      wall_s: +wallS.toFixed(1),
      tally,
      accepted_completed: completed,
      refused_503: refused.length,
      refused_with_retry_after: refused.filter((r) => Number(r.retryAfter) > 0).length,
      provider_calls: providerCalls,
      run_objects_on_disk: objects,
      half_created: objects - completed,
      history_rows_first_page: rows,
      health_after: health,
      // per workerd process, in wrangler's order (the larger RSS is the worker's runtime)
      workerd_fds_before: before.map((b) => b.fds),
      workerd_fds_peak: peak.map((p) => p.fds),
      workerd_rss_before_mb: before.map((b) => Math.round(b.rss / 2 ** 20)),
      workerd_rss_peak_mb: peak.map((p) => Math.round(p.rss / 2 ** 20)),
      fd_limit: Number(/Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pids[0]}/limits`, "utf8"))?.[1] ?? 0),
      loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    }),
  );
} finally {
  await dev.stop();
  provider.close();
  provider.closeAllConnections?.();
}
