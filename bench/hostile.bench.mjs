// Issue 13 item 3: one hostile flow must not stall the other requests of the isolate. Through `wrangler dev` (one
// workerd isolate serves the worker and the run objects), while hostile runs execute:
//  - a JavaScript code node that busy-loops (`while (true) {}`) with retryConfig.timeout 60 s, clamped to
//    CODE_TIMEOUT_MAX_MS (10 s by default);
//  - an LLM node with respFormat 2 and the pattern `((t\d+ )+)+X` over a 31-token answer (the fake provider here);
// `/health` is requested back to back and its latency recorded: median, p99 and max, against the same figures with
// nothing running. Target: /health answers within 50 ms while the hostile runs execute.
// Run: `npm run bench -- hostile` (HOSTILE_RUNS=2 code runs in a row by default).
import { createServer } from "node:http";
import { publishFlow, startDev } from "./dev.mjs";
import { median } from "./load.mjs";

const RUNS = Number(process.env.HOSTILE_RUNS ?? 2);
const TOKENS = Array.from({ length: 31 }, (_, i) => `t${i} `);

// the provider: 31 tokens, no X
const provider = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    for (const t of TOKENS)
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
});
await new Promise((r) => provider.listen(0, "127.0.0.1", r));
const providerUrl = `http://127.0.0.1:${provider.address().port}`;

const start = {
  id: "node-start::s",
  data: {
    nodeMeta: { nodeType: "b", aliasName: "S" },
    outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
  },
};
const input = (node) => [
  {
    name: "input",
    schema: { type: "string", value: { type: "ref", content: { nodeId: node, name: "AGENT_USER_INPUT" } } },
  },
];
const end = (from) => ({
  id: "node-end::e",
  data: {
    nodeMeta: { nodeType: "b", aliasName: "E" },
    nodeParam: { outputMode: 0 },
    inputs: [
      { name: "out", schema: { type: "string", value: { type: "ref", content: { nodeId: from, name: "output" } } } },
    ],
  },
});
const line = (nodes) => ({
  data: { nodes, edges: nodes.slice(1).map((n, i) => ({ sourceNodeId: nodes[i].id, targetNodeId: n.id })) },
});

const busyFlow = line([
  start,
  {
    id: "ifly-code::c",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "C" },
      nodeParam: { code: "function main() { while (true) {} }", codeLanguage: "javascript" },
      inputs: input("node-start::s"),
      outputs: [{ name: "output", schema: { type: "string" } }],
      retryConfig: { timeout: 60, shouldRetry: false, maxRetries: 0, errorStrategy: 0 },
    },
  },
  end("ifly-code::c"),
]);
const regexFlow = line([
  start,
  {
    id: "spark-llm::l",
    data: {
      nodeMeta: { nodeType: "b", aliasName: "L" },
      nodeParam: {
        domain: "m",
        source: "openai",
        url: `${providerUrl}/v1/chat/completions`,
        apiKey: "k",
        template: "{{input}}",
        respFormat: 2,
        re_match_pattern: "((t\\d+ )+)+X",
      },
      inputs: input("node-start::s"),
      outputs: [{ name: "output", schema: { type: "string" } }],
    },
  },
  end("spark-llm::l"),
]);

const dev = await startDev({ vars: { ALLOW_PRIVATE_FETCH: "true" } });
const base = dev.base;
try {
  const run = async (flowId) => {
    const t = performance.now();
    const res = await fetch(`${base}/workflow/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
      body: JSON.stringify({ flow_id: flowId, stream: false, parameters: { AGENT_USER_INPUT: "q" } }),
    });
    const body = await res.json();
    return { ms: performance.now() - t, code: body.code };
  };
  /** /health back to back until `until` settles (or `ms` pass); its latencies. */
  const probe = async (until) => {
    let done = false;
    until.then(() => (done = true));
    const lat = [];
    const t0 = performance.now();
    while (!done) {
      const t = performance.now();
      const res = await fetch(`${base}/health`);
      await res.text();
      lat.push(performance.now() - t);
      if (process.env.HOSTILE_TRACE && lat.at(-1) > 50)
        console.error(`slow /health at ${(t - t0).toFixed(0)} ms: ${lat.at(-1).toFixed(0)} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return lat;
  };
  const summary = (lat) => {
    const s = [...lat].sort((a, b) => a - b);
    return {
      n: s.length,
      median_ms: +median(s).toFixed(1),
      p99_ms: +s[Math.min(s.length - 1, Math.floor(0.99 * s.length))].toFixed(1),
      max_ms: +s[s.length - 1].toFixed(1),
    };
  };

  const busy = await publishFlow(base, busyFlow);
  const regex = await publishFlow(base, regexFlow);
  await run(regex); // warm the isolate and the QuickJS module's route
  const idle = await probe(new Promise((r) => setTimeout(r, 2000)));

  const runs = [];
  const during = await probe(
    (async () => {
      for (let i = 0; i < RUNS; i++) {
        const [c, r] = await Promise.all([run(busy), run(regex)]);
        runs.push({ code: c, regex: r });
      }
    })(),
  );
  console.log(
    JSON.stringify({
      figure: "health_during_hostile_flows",
      hostile_runs: runs.map((r) => ({
        busy_loop_ms: +r.code.ms.toFixed(0),
        busy_loop_code: r.code.code,
        regex_ms: +r.regex.ms.toFixed(0),
        regex_code: r.regex.code,
      })),
      idle: summary(idle),
      during: summary(during),
      target_ms: 50,
    }),
  );
} finally {
  provider.close();
  await dev.stop();
}
process.exit(0);
