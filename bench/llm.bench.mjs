// Streaming benchmarks, through `wrangler dev` on loopback, with the fake OpenAI-compatible provider in this process
// (one clock for the client, the provider and the ceiling's client):
//  - time to first token a user feels (issue 15): from the client sending its chat request to the first token it
//    reads, through the runtime, minus the same for a client that calls the provider directly — against the platform
//    ceiling's own request latency at c = 1 (bench/ceiling: one Durable Object and one storage write), measured in
//    the same rounds, order rotated each round. Broken down with the provider's clock: before the provider is called
//    (routing, auth, flow, plan, run object, start node, the LLM node's request) and after it wrote the first token
//    (the relay: object → worker → client);
//  - token throughput: a 2,000-token answer streamed through an end node, wall time against the provider's own
//    time to send it.
// Run: `npm run bench -- llm` (REPS=15 by default; LLM_THROUGHPUT=0 skips the throughput figure).
import { createServer } from "node:http";
import { join } from "node:path";
import { publishFlow, root, startDev } from "./dev.mjs";
import { llmFlow } from "./flows.mjs";
import { median } from "./load.mjs";

const REPS = Number(process.env.REPS ?? 15);
const now = () => performance.timeOrigin + performance.now();

// the provider: records when it wrote the first token and when it finished
let firstSentAt = 0;
let receivedAt = 0;
let doneAt = 0;
const provider = createServer((req, res) => {
  receivedAt = now();
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
const ceiling = await startDev({ cwd: join(root, "bench", "ceiling"), seed: false, probe: "POST" });
const base = dev.base;
try {
  const post = (path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const publish = (script) => publishFlow(base, llmFlow(providerUrl, { script, stream: true }));
  const openContent = (f) => f.choices?.[0]?.delta?.content;
  const providerContent = (f) => f.choices?.[0]?.delta?.content;

  // time to first token, as the user feels it
  const ttftScript = { count: 3, leadMs: 20 };
  const ttftFlow = await publish(ttftScript);
  const rows = { direct: [], runtime: [], ceiling: [] };
  const split = { before: [], after: [] };
  const measure = {
    // request sent → first token read, and the provider's view of the same request
    direct: async () => {
      const sent = now();
      const d = await consume(
        await fetch(`${providerUrl}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ script: ttftScript }),
        }),
        providerContent,
      );
      return { total: d.first - sent, before: receivedAt - sent, after: d.first - firstSentAt };
    },
    runtime: async () => {
      const sent = now();
      const x = await consume(
        await post(
          "/workflow/v1/chat/completions",
          { flow_id: ttftFlow, parameters: { AGENT_USER_INPUT: "q" } },
          { "X-Consumer-Username": "d1590f30" },
        ),
        openContent,
      );
      return { total: x.first - sent, before: receivedAt - sent, after: x.first - firstSentAt };
    },
    ceiling: async () => {
      const sent = now();
      const r = await fetch(`${ceiling.base}/`, { method: "POST", body: "{}" });
      if (!(await r.text()).includes('"ok":true')) throw new Error("the ceiling did not answer");
      return { total: now() - sent };
    },
  };
  const names = Object.keys(measure);
  for (let r = 0; r < REPS + 2; r++) {
    // rotate the order every round, so none always runs first (or right after the runtime)
    const order = names.map((_, i) => names[(i + r) % names.length]);
    const got = {};
    for (const n of order) got[n] = await measure[n]();
    if (r < 2) continue; // warm-up rounds
    for (const n of names) rows[n].push(got[n].total);
    split.before.push(got.runtime.before - got.direct.before);
    split.after.push(got.runtime.after - got.direct.after);
  }
  const added = rows.runtime.map((x, i) => x - rows.direct[i]);
  const overCeiling = added.map((x, i) => x - rows.ceiling[i]);
  const stat = (xs) => ({
    median: +median(xs).toFixed(2),
    min: +Math.min(...xs).toFixed(2),
    max: +Math.max(...xs).toFixed(2),
  });
  const ttft = {
    figure: "ttft_felt",
    reps: REPS,
    provider_direct_ms: stat(rows.direct),
    through_runtime_ms: stat(rows.runtime),
    added_ms: stat(added),
    ceiling_request_ms: stat(rows.ceiling),
    added_over_ceiling_ms: stat(overCeiling),
    target_added_over_ceiling_ms: 5,
    breakdown_ms: { before_provider_call: stat(split.before), provider_first_token_to_client: stat(split.after) },
  };
  console.log(JSON.stringify(ttft));
  if (process.env.LLM_THROUGHPUT !== "0") {
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
  }
} finally {
  provider.close();
  await dev.stop();
  await ceiling.stop();
}
process.exit(0);
