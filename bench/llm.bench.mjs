// Issue 3 streaming benchmarks, through `wrangler dev` on loopback, with the fake OpenAI-compatible provider in
// this process (one clock for "the provider sent it" and "the client got it"):
//  - time to first token added by the runtime: client receipt of the first content frame minus the moment the
//    provider wrote that token, against the same figure when the client reads the provider directly (baseline);
//  - token throughput: a 2,000-token answer streamed through an end node, wall time against the provider's own
//    time to send it.
// Run: `npm run bench -- llm` (REPS=15 by default).
import { createServer } from "node:http";
import { publishFlow, startDev } from "./dev.mjs";
import { median } from "./load.mjs";

const REPS = Number(process.env.REPS ?? 15);
const now = () => performance.timeOrigin + performance.now();

// the provider: records when it wrote the first token and when it finished
let firstSentAt = 0;
let doneAt = 0;
const provider = createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", async () => {
    const body = JSON.parse(raw || "{}");
    const s = body.script ?? {};
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    await new Promise((r) => setTimeout(r, s.leadMs ?? 20));
    const n = s.count ?? 3;
    const startedAt = now();
    for (let i = 0; i < n; i++) {
      if (s.everyMs && i > 0) await new Promise((r) => setTimeout(r, s.everyMs));
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] })}\n\n`,
      );
      if (i === 0) firstSentAt = now();
    }
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
    res.end("data: [DONE]\n\n");
    doneAt = now();
    res.providerMs = doneAt - startedAt;
  });
});
await new Promise((r) => provider.listen(0, "127.0.0.1", r));
const providerUrl = `http://127.0.0.1:${provider.address().port}`;

/** Reads an SSE response; returns the receipt time of the first non-empty content and of the end. */
async function consume(res, contentOf) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let first = 0;
  let tokens = 0;
  for (;;) {
    let value, done;
    try {
      ({ value, done } = await reader.read());
    } catch (e) {
      throw new Error(
        `stream cut after ${tokens} tokens, ${(now() - first).toFixed(0)} ms after the first: ${e.message}`,
      );
    }
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const c = contentOf(JSON.parse(line.slice(6)));
      if (c) {
        tokens++;
        if (!first) first = now();
      }
    }
  }
  return { first, end: now(), tokens };
}

const dev = await startDev({ vars: { ALLOW_PRIVATE_FETCH: "true" } });
const base = dev.base;
try {
  const post = (path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const flowFor = (script) => ({
    data: {
      nodes: [
        {
          id: "node-start::s",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "S" },
            outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
          },
        },
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
              extraParams: { script },
            },
            inputs: [
              {
                name: "input",
                schema: {
                  type: "string",
                  value: { type: "ref", content: { nodeId: "node-start::s", name: "AGENT_USER_INPUT" } },
                },
              },
            ],
            outputs: [{ name: "output", schema: { type: "string" } }],
          },
        },
        {
          id: "node-end::e",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "E" },
            nodeParam: { outputMode: 1, template: "{{output}}", streamOutput: true },
            inputs: [
              {
                name: "output",
                schema: { type: "string", value: { type: "ref", content: { nodeId: "spark-llm::l", name: "output" } } },
              },
            ],
          },
        },
      ],
      edges: [
        { sourceNodeId: "node-start::s", targetNodeId: "spark-llm::l" },
        { sourceNodeId: "spark-llm::l", targetNodeId: "node-end::e" },
      ],
    },
  });
  const publish = (script) => publishFlow(base, flowFor(script));
  const openContent = (f) => f.choices?.[0]?.delta?.content;
  const providerContent = (f) => f.choices?.[0]?.delta?.content;

  // time to first token
  const ttftScript = { count: 3, leadMs: 20 };
  const ttftFlow = await publish(ttftScript);
  const direct = [];
  const runtime = [];
  for (let r = 0; r < REPS + 2; r++) {
    const d = await consume(
      await fetch(`${providerUrl}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ script: ttftScript }),
      }),
      providerContent,
    );
    const directDelay = d.first - firstSentAt;
    const x = await consume(
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: ttftFlow, parameters: { AGENT_USER_INPUT: "q" } },
        { "X-Consumer-Username": "d1590f30" },
      ),
      openContent,
    );
    const runtimeDelay = x.first - firstSentAt;
    if (r >= 2) {
      direct.push(directDelay);
      runtime.push(runtimeDelay);
    }
  }
  const ttft = {
    figure: "ttft_added_by_runtime",
    reps: REPS,
    provider_direct_ms: +median(direct).toFixed(2),
    through_runtime_ms: +median(runtime).toFixed(2),
    added_ms: +(median(runtime) - median(direct)).toFixed(2),
    target_added_ms: 5,
  };
  console.log(JSON.stringify(ttft));

  // throughput: 2,000 tokens, 1 ms apart
  const tpScript = { count: 2000, everyMs: 1, leadMs: 0 };
  const tpFlow = await publish(tpScript);
  const ratios = [];
  const walls = [];
  const providerTimes = [];
  for (let r = 0; r < Math.max(3, Math.floor(REPS / 3)); r++) {
    const t0 = now();
    const x = await consume(
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: tpFlow, parameters: { AGENT_USER_INPUT: "q" } },
        { "X-Consumer-Username": "d1590f30" },
      ),
      openContent,
    );
    const wall = x.end - x.first;
    const providerWall = doneAt - firstSentAt;
    if (x.tokens < 2000) throw new Error(`only ${x.tokens} tokens arrived`);
    walls.push(wall);
    providerTimes.push(providerWall);
    ratios.push(wall / providerWall);
    void t0;
  }
  console.log(
    JSON.stringify({
      figure: "throughput_2000_tokens",
      runs: ratios.length,
      provider_ms: +median(providerTimes).toFixed(1),
      client_first_to_last_ms: +median(walls).toFixed(1),
      ratio: +median(ratios).toFixed(3),
      target_ratio: 1.1,
    }),
  );
} finally {
  provider.close();
  await dev.stop();
}
process.exit(0);
