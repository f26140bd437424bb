// Issue 5 HTTP benchmark, in one run on loopback against `wrangler dev`:
//  (a) the ceiling: a bare Hono worker forwarding to a Durable Object that does one storage write;
//  (b) an open non-stream run of example-core-if-else-branch.json;
//  (c) the same run streamed.
// At concurrency 1 and 50; medians of REPS runs of SECONDS each. Run: `npm run bench -- http`.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load, median } from "./load.mjs";

const root = join(import.meta.dirname, "..");
const SECONDS = Number(process.env.SECONDS ?? 6);
const REPS = Number(process.env.REPS ?? 3);
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function dev(args, cwd) {
  const port = await freePort();
  const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(port), "--local", ...args], { cwd, env, stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${base}/health`);
      return { base, child };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`wrangler dev in ${cwd} did not start`);
}

const persist = mkdtempSync(join(tmpdir(), "bench-http-"));
execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: root, env, stdio: "pipe" });
execFileSync("wrangler", ["d1", "execute", "DB", "--local", "--persist-to", persist, "--command",
  "INSERT INTO app (name, alias_id, api_key, api_secret, is_tenant, source, actual_source, plat_release_auth) VALUES ('t','tenant01','tk','ts',1,1,1,7), ('d','d1590f30','dk','ds',0,1,1,0)"], { cwd: root, env, stdio: "pipe" });
const main = await dev(["--persist-to", persist], root);
const ceiling = await dev([], join(root, "bench", "ceiling"));
const results = [];
try {
  const flow = JSON.parse(readFileSync(join(root, "..", "shared", "fixtures", "astron", "example-core-if-else-branch.json"), "utf8"));
  const post = (path, body, headers = {}) => fetch(`${main.base}${path}`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) }).then((r) => r.json());
  const id = (await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "bench", description: "", data: flow })).data.flow_id;
  await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, { "X-Consumer-Username": "tenant01" });
  await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, { "X-Consumer-Username": "tenant01" });
  const chat = (stream) => JSON.stringify({ flow_id: id, stream, parameters: { AGENT_USER_INPUT: "bench", score: 80 } });
  const targets = {
    a_ceiling: { url: `${ceiling.base}/`, body: "{}" },
    b_open_nonstream: { url: `${main.base}/workflow/v1/chat/completions`, body: chat(false), headers: { "X-Consumer-Username": "d1590f30" } },
    c_open_stream: { url: `${main.base}/workflow/v1/chat/completions`, body: chat(true), headers: { "X-Consumer-Username": "d1590f30" }, stream: true },
  };
  for (const concurrency of [1, 50]) {
    // warm up every target
    for (const t of Object.values(targets)) await load({ ...t, concurrency, seconds: 1 });
    const runs = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let r = 0; r < REPS; r++) {
      for (const [name, t] of Object.entries(targets)) runs[name].push(await load({ ...t, concurrency, seconds: SECONDS }));
    }
    const summary = {};
    for (const [name, list] of Object.entries(runs)) {
      summary[name] = {
        rps: +median(list.map((x) => x.rps)).toFixed(1),
        p50_ms: +median(list.map((x) => x.p50)).toFixed(2),
        p99_ms: +median(list.map((x) => x.p99)).toFixed(2),
        errors: list.reduce((n, x) => n + x.errors, 0),
      };
    }
    const a = summary.a_ceiling;
    const row = {
      figure: "http",
      concurrency,
      seconds: SECONDS,
      reps: REPS,
      ...summary,
      b_rps_ratio_to_ceiling: +(summary.b_open_nonstream.rps / a.rps).toFixed(2),
      b_p99_ratio_to_ceiling: +(summary.b_open_nonstream.p99_ms / a.p99_ms).toFixed(2),
      c_rps_ratio_to_ceiling: +(summary.c_open_stream.rps / a.rps).toFixed(2),
      c_p99_ratio_to_ceiling: +(summary.c_open_stream.p99_ms / a.p99_ms).toFixed(2),
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  main.child.kill("SIGTERM");
  ceiling.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 500));
  rmSync(persist, { recursive: true, force: true });
}
