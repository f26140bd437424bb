// Issue 5 HTTP benchmark, in one run on loopback against `wrangler dev`:
//  (a) the ceiling: a bare Hono worker forwarding to a Durable Object that does one storage write;
//  (b) an open non-stream run of example-core-if-else-branch.json;
//  (c) the same run streamed.
// At concurrency 1 and 50, in REPS rounds (8) of SECONDS each per target; the order of the targets rotates every
// round and a second of quiet precedes each window; ratios are taken within a round, then their median and range.
// Server CPU per request: user + system time of each `wrangler dev` process tree during the window ÷ requests.
// Run: `npm run bench -- http`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { load, median } from "./load.mjs";
import { treeCpuMs } from "./proc.mjs";

const SECONDS = Number(process.env.SECONDS ?? 6);
const REPS = Number(process.env.REPS ?? 8);
const IDLE_MS = Number(process.env.IDLE_MS ?? 1000);

const main = await startDev();
const ceiling = await startDev({ cwd: join(root, "bench", "ceiling"), seed: false });
const results = [];
try {
  const flow = JSON.parse(readFileSync(join(root, "examples", "example-core-if-else-branch.json"), "utf8"));
  const id = await publishFlow(main.base, flow);
  const chat = (stream) =>
    JSON.stringify({ flow_id: id, stream, parameters: { AGENT_USER_INPUT: "bench", score: 80 } });
  const targets = {
    a_ceiling: { url: `${ceiling.base}/`, body: "{}", pid: ceiling.pid },
    b_open_nonstream: {
      url: `${main.base}/workflow/v1/chat/completions`,
      body: chat(false),
      headers: { "X-Consumer-Username": "d1590f30" },
      pid: main.pid,
    },
    c_open_stream: {
      url: `${main.base}/workflow/v1/chat/completions`,
      body: chat(true),
      headers: { "X-Consumer-Username": "d1590f30" },
      stream: true,
      pid: main.pid,
    },
  };
  const names = Object.keys(targets);
  const stat = (xs) => ({
    median: +median(xs).toFixed(3),
    min: +Math.min(...xs).toFixed(3),
    max: +Math.max(...xs).toFixed(3),
  });
  for (const concurrency of [1, 50]) {
    // warm up every target
    for (const t of Object.values(targets)) await load({ ...t, concurrency, seconds: 1 });
    const rounds = [];
    for (let r = 0; r < REPS; r++) {
      const row = {};
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + r) % names.length];
        await new Promise((res) => setTimeout(res, IDLE_MS));
        const cpu0 = treeCpuMs(targets[name].pid);
        const x = await load({ ...targets[name], concurrency, seconds: SECONDS });
        row[name] = { ...x, cpu_ms_per_req: (treeCpuMs(targets[name].pid) - cpu0) / Math.max(1, x.requests ?? 1) };
      }
      rounds.push(row);
    }
    const summary = {};
    for (const name of names) {
      const list = rounds.map((row) => row[name]);
      summary[name] = {
        rps: stat(list.map((x) => x.rps)),
        p50_ms: stat(list.map((x) => x.p50)),
        p99_ms: stat(list.map((x) => x.p99)),
        cpu_ms_per_req: stat(list.map((x) => x.cpu_ms_per_req)),
        errors: list.reduce((n, x) => n + x.errors, 0),
      };
    }
    const ratio = (name, k) => stat(rounds.map((row) => row[name][k] / row.a_ceiling[k]));
    const row = {
      figure: "http",
      concurrency,
      seconds: SECONDS,
      rounds: REPS,
      ...summary,
      b_rps_ratio_to_ceiling: ratio("b_open_nonstream", "rps"),
      b_p99_ratio_to_ceiling: ratio("b_open_nonstream", "p99"),
      b_cpu_ratio_to_ceiling: ratio("b_open_nonstream", "cpu_ms_per_req"),
      c_rps_ratio_to_ceiling: ratio("c_open_stream", "rps"),
      c_p99_ratio_to_ceiling: ratio("c_open_stream", "p99"),
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await main.stop();
  await ceiling.stop();
}
