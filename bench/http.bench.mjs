// Issue 5 HTTP benchmark, in one run on loopback against `wrangler dev`:
//  (a) the ceiling: a bare Hono worker forwarding to a Durable Object that does one storage write;
//  (b) an open non-stream run of example-core-if-else-branch.json;
//  (c) the same run streamed.
// At concurrency 1 and 50; medians of REPS runs of SECONDS each. Run: `npm run bench -- http`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { load, median } from "./load.mjs";

const SECONDS = Number(process.env.SECONDS ?? 6);
const REPS = Number(process.env.REPS ?? 3);

const main = await startDev();
const ceiling = await startDev({ cwd: join(root, "bench", "ceiling"), seed: false });
const results = [];
try {
  const flow = JSON.parse(readFileSync(join(root, "examples", "example-core-if-else-branch.json"), "utf8"));
  const id = await publishFlow(main.base, flow);
  const chat = (stream) =>
    JSON.stringify({ flow_id: id, stream, parameters: { AGENT_USER_INPUT: "bench", score: 80 } });
  const targets = {
    a_ceiling: { url: `${ceiling.base}/`, body: "{}" },
    b_open_nonstream: {
      url: `${main.base}/workflow/v1/chat/completions`,
      body: chat(false),
      headers: { "X-Consumer-Username": "d1590f30" },
    },
    c_open_stream: {
      url: `${main.base}/workflow/v1/chat/completions`,
      body: chat(true),
      headers: { "X-Consumer-Username": "d1590f30" },
      stream: true,
    },
  };
  for (const concurrency of [1, 50]) {
    // warm up every target
    for (const t of Object.values(targets)) await load({ ...t, concurrency, seconds: 1 });
    const runs = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let r = 0; r < REPS; r++) {
      for (const [name, t] of Object.entries(targets))
        runs[name].push(await load({ ...t, concurrency, seconds: SECONDS }));
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
  await main.stop();
  await ceiling.stop();
}
