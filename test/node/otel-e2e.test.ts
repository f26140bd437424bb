// Issue 17 end to end: `wrangler dev` with OTEL_EXPORTER_OTLP_ENDPOINT pointed at the fake collector
// (test/support/fake-otlp.ts, which decodes the protobuf it receives with the official message layout). One flow with
// a retried node and its error strategy, an iteration, a sub-flow (whose own if-else takes one branch), and a
// question whose options branch, started with a caller's traceparent and answered with another: the collector gets
// one trace with the right tree, the sub-flow's run is a child of the call that started it, GET /runs/{id} names the
// trace; a collector that hangs or is down changes nothing a client sees.
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START, OPTION_QUESTION } from "../support/dsl-builder.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { startFakeOtlp, type DecodedSpan, type FakeOtlp } from "../support/fake-otlp.ts";
import { startFakeReceiver, type Received } from "../support/fake-receiver.ts";
import { loadFixture } from "../support/fixtures.ts";
import { llmNode } from "../support/llm-flow.ts";
import { readFrames, seededState, startDev } from "../support/wrangler-dev.ts";

let child: ChildProcess | undefined;
let base = "";
let persist = "";
let output = "";
let otlp: FakeOtlp;
let llm: FakeOpenAI;
let receiver: Awaited<ReturnType<typeof startFakeReceiver>>;
const HEADER_SECRET = "collector-secret-7a1f";

beforeAll(async () => {
  [otlp, llm, receiver] = await Promise.all([startFakeOtlp(), startFakeOpenAI(), startFakeReceiver()]);
  persist = seededState("wrangler-otel-");
  const dev = await startDev({
    persist,
    vars: (b) => [
      "ALLOW_PRIVATE_FETCH:true",
      `WORKFLOW_URL_SSE:${b}/workflow/v1/chat/completions`,
      `OTEL_EXPORTER_OTLP_ENDPOINT:${otlp.url}`,
      `OTEL_EXPORTER_OTLP_HEADERS:x-api-key=${HEADER_SECRET},x-tenant=a%20b`,
      "OTEL_SERVICE_NAME:astron-e2e",
      "OTEL_EXPORTER_OTLP_TIMEOUT:1500",
    ],
    stdio: ["ignore", "pipe", "pipe"],
  });
  ({ base, child } = dev);
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
}, 60_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (child && child.exitCode === null) child.kill("SIGKILL");
  rmSync(persist, { recursive: true, force: true });
  await Promise.all([otlp?.close(), llm?.close(), receiver?.close()]);
});

const APP = { "X-Consumer-Username": "d1590f30" };
const TENANT = { "X-Consumer-Username": "tenant01" };

async function post(path: string, body: unknown, headers: Record<string, string> = APP): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const sse = readFrames;

async function publish(data: unknown): Promise<string> {
  const add = (await (
    await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "otel", description: "", data })
  ).json()) as { data: { flow_id: string } };
  const id = add.data.flow_id;
  await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, TENANT);
  await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, TENANT);
  return id;
}

function parentFlow(childId: string): unknown {
  return flow()
    .node(START, {
      outputs: [
        { name: "AGENT_USER_INPUT" },
        { name: "score", type: "integer" },
        { name: "items", type: "array", schema: { items: { type: "string" } } },
      ],
    })
    .node("spark-llm::bad", {
      params: llmNode(llm.url, { status: 500 }),
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "output" }],
      retry: { shouldRetry: true, maxRetries: 1, errorStrategy: 1, customOutput: { output: "fallback" } },
    })
    .prefixIteration()
    .node("flow::sub", {
      params: { flowId: childId, appId: "d1590f30", uid: "u" },
      inputs: [
        { name: "AGENT_USER_INPUT", ref: { node: START, name: "AGENT_USER_INPUT" } },
        { name: "score", type: "integer", ref: { node: START, name: "score" } },
      ],
      outputs: [{ name: "joined" }],
    })
    .node("question-answer::q", OPTION_QUESTION)
    .node("message::yes", { params: { template: "shipping", streamOutput: true } })
    .node("message::later", { params: { template: "deferred", streamOutput: true } })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "bad", ref: { node: "spark-llm::bad", name: "output" } },
        { name: "all", type: "array", ref: { node: "iteration::it", name: "output" } },
        { name: "sub", ref: { node: "flow::sub", name: "joined" } },
        { name: "answer", ref: { node: "question-answer::q", name: "content" } },
      ],
    })
    .edge(START, "spark-llm::bad")
    .edge("spark-llm::bad", "iteration::it")
    .edge("iteration::it", "flow::sub")
    .edge("flow::sub", "question-answer::q")
    .edge("question-answer::q", "message::yes", "option-one-of::a")
    .edge("question-answer::q", "message::later", "option-one-of::d")
    .edge("message::yes", END)
    .edge("message::later", END)
    .build();
}

function simpleFlow(): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [{ name: "echo", ref: { node: START, name: "AGENT_USER_INPUT" } }],
    })
    .edge(START, END)
    .build();
}

/** spans of `traceId` once `done(spans)` holds (the export runs in the background after the answer) */
async function spansOf(traceId: string, done: (spans: DecodedSpan[]) => boolean): Promise<DecodedSpan[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const spans = otlp.spans().filter((s) => s.traceId === traceId);
    if (done(spans) || Date.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER = "00f067aa0ba902b7";
const RESUMER = "a3ce929d0e0e4736";

describe("traces over OTLP (wrangler dev)", () => {
  it("exports the run as one trace: caller's parent, attempts, retry, items, sub-flow run, wait; GET /runs names it", async () => {
    const childId = await publish(loadFixture("example-core-if-else-branch.json"));
    const parentId = await publish(parentFlow(childId));
    const res = await post(
      "/workflow/v1/chat/completions",
      { flow_id: parentId, parameters: { AGENT_USER_INPUT: "sub", score: 1, items: ["a", "b"] } },
      { ...APP, traceparent: `00-${TRACE}-${CALLER}-01` },
    );
    const runId = res.headers.get("x-run-id") as string;
    const first = await sse(res);
    expect(first.at(-1)?.choices[0]?.finish_reason).toBe("interrupt");
    const rest = await sse(
      await post(
        "/workflow/v1/resume",
        { event_id: runId, event_type: "resume", content: "A" },
        { ...APP, traceparent: `00-${"1".repeat(32)}-${RESUMER}-01` },
      ),
    );
    expect(rest.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    expect(rest.map((f) => f.choices[0]?.delta.content).join("")).toContain(
      '"bad":"fallback","all":["x-a","x-b"],"sub":"FAIL: sub","answer":"yes"',
    );

    const run = (await (await fetch(`${base}/runs/${runId}`, { headers: APP })).json()) as { traceId: string };
    expect(run.traceId).toBe(TRACE);

    const rootName = `workflow ${parentId}`;
    const spans = await spansOf(TRACE, (s) => s.some((x) => x.name === rootName));
    const root = spans.find((s) => s.name === rootName) as DecodedSpan;
    expect(root, "the parent run's root span").toBeDefined();
    // the run is a child of the caller (a remote parent: flags carry it)
    expect(root.parentSpanId).toBe(CALLER);
    expect(root.kind).toBe(2); // SERVER
    expect(root.flags & 0x300).toBe(0x300);
    expect(root.attributes).toMatchObject({
      "workflow.run.id": runId,
      "workflow.flow.id": parentId,
      "workflow.app.id": "d1590f30",
      "workflow.mode": "open",
      "workflow.status": "completed",
      "workflow.error.code": 0,
    });
    expect(root.resource["service.name"]).toBe("astron-e2e");
    expect(root.scope.name).toBe("astron-edge-workflow");

    const ofRun = spans.filter((s) => s.attributes["workflow.run.id"] === runId);
    const ids = new Map(ofRun.map((s) => [s.spanId, s]));
    for (const s of ofRun) {
      if (s === root) continue;
      const parent = ids.get(s.parentSpanId);
      expect(parent, `${s.name} hangs in the run's tree`).toBeDefined();
      expect(s.start, `${s.name} starts inside ${parent?.name}`).toBeGreaterThanOrEqual(parent?.start ?? 0);
      expect(s.end, `${s.name} ends inside ${parent?.name}`).toBeLessThanOrEqual(parent?.end ?? 0);
    }
    const named = (n: string): DecodedSpan[] => ofRun.filter((s) => s.name === n).sort((a, b) => a.start - b.start);
    // branches: the answered option's message ran, the other one is no span
    expect(named("message::yes")).toHaveLength(1);
    expect(named("message::later")).toHaveLength(0);
    // the retry and the strategy
    expect(named("spark-llm::bad").map((s) => s.attributes["workflow.node.outcome"])).toEqual([
      "retry",
      "error_strategy",
    ]);
    expect(named("spark-llm::bad").map((s) => s.status.code)).toEqual([2, 2]);
    // the iteration's items and their nodes
    const iteration = named("iteration::it")[0] as DecodedSpan;
    const items = ofRun.filter((s) => s.name.startsWith("item ")).sort((a, b) => a.start - b.start);
    expect(items.map((s) => [s.name, s.parentSpanId])).toEqual([
      ["item 0", iteration.spanId],
      ["item 1", iteration.spanId],
    ]);
    expect(named("text-joiner::tj").map((s) => s.parentSpanId)).toEqual(items.map((s) => s.spanId));
    // the wait: from the question to the answer, linked to the answer's caller
    const q = named("question-answer::q");
    expect(q.map((s) => s.attributes["workflow.node.outcome"])).toEqual(["interrupted", "success"]);
    const wait = named("wait question-answer::q")[0] as DecodedSpan;
    expect(wait.parentSpanId).toBe(root.spanId);
    expect(wait.start).toBeGreaterThanOrEqual((q[0] as DecodedSpan).end);
    expect(wait.end).toBeLessThanOrEqual((q[1] as DecodedSpan).start);
    expect(wait.links).toEqual([
      { traceId: "1".repeat(32), spanId: RESUMER, attributes: { "workflow.link": "resume" } },
    ]);

    // the sub-flow: its run is a child of the flow node's call (client span) in the same trace
    const flowNode = named("flow::sub")[0] as DecodedSpan;
    const calls = ofRun.filter((s) => s.parentSpanId === flowNode.spanId && s.kind === 3);
    expect(calls.length).toBeGreaterThan(0);
    const subSpans = await spansOf(TRACE, (s) => s.some((x) => x.name === `workflow ${childId}`));
    const subRoot = subSpans.find((s) => s.name === `workflow ${childId}`) as DecodedSpan;
    expect(subRoot, "the sub-flow run's root span").toBeDefined();
    expect(calls.map((s) => s.spanId)).toContain(subRoot.parentSpanId);
    expect(subRoot.attributes["workflow.run.id"]).not.toBe(runId);
    expect(subRoot.start).toBeGreaterThanOrEqual(flowNode.start);
    expect(subRoot.end).toBeLessThanOrEqual(flowNode.end);
    // the child run took one branch of its if-else: its nodes are in the trace under its own root
    const subNodes = subSpans.filter(
      (s) => s.attributes["workflow.run.id"] === subRoot.attributes["workflow.run.id"] && s !== subRoot,
    );
    expect(subNodes.length).toBeGreaterThan(2);
    expect(subNodes.every((s) => s.traceId === TRACE)).toBe(true);

    // the collector got the configured headers, URL-decoded
    const req = otlp.requests().find((r) => r.spans > 0);
    expect(req?.headers["x-api-key"]).toBe(HEADER_SECRET);
    expect(req?.headers["x-tenant"]).toBe("a b");
    expect(req?.contentType).toBe("application/x-protobuf");
    expect(otlp.requests().every((r) => r.error === null)).toBe(true);
  }, 90_000);

  it("ignores an invalid traceparent: the run gets a trace of its own", async () => {
    const id = await publish(simpleFlow());
    const res = await post(
      "/workflow/v1/chat/completions",
      { flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: "x" } },
      { ...APP, traceparent: `00-${TRACE.toUpperCase()}-${CALLER}-01` },
    );
    const frame = (await res.json()) as Frame;
    expect(frame.code).toBe(0);
    const run = (await (await fetch(`${base}/runs/${res.headers.get("x-run-id") ?? ""}`, { headers: APP })).json()) as {
      traceId: string;
    };
    expect(run.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(run.traceId).not.toBe(TRACE);
    const spans = await spansOf(run.traceId, (s) => s.some((x) => x.name === `workflow ${id}`));
    expect(spans.find((s) => s.name === `workflow ${id}`)?.parentSpanId).toBe("");
  }, 30_000);

  it("makes a webhook delivery's run a child of the delivery's traceparent", async () => {
    const id = await publish(simpleFlow());
    const created = await post("/hooks", {
      flow_id: id,
      mode: "sync",
      auth: "bearer",
      rate_per_minute: 0,
      mapping: { AGENT_USER_INPUT: "body.name" },
    });
    expect(created.status).toBe(201);
    const hook = (await created.json()) as { hook_id: string; token: string };
    const caller = "b7ad6b7169203331";
    const trace = "0af7651916cd43dd8448eb211c80319c";
    const res = await fetch(`${base}/hooks/${hook.hook_id}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${hook.token}`,
        traceparent: `00-${trace}-${caller}-01`,
      },
      body: JSON.stringify({ name: "ada" }),
    });
    expect(res.status).toBe(200);
    const runId = res.headers.get("x-run-id") ?? "";
    const run = (await (await fetch(`${base}/runs/${runId}`, { headers: APP })).json()) as { traceId: string };
    expect(run.traceId).toBe(trace);
    const spans = await spansOf(trace, (s) => s.some((x) => x.name === `workflow ${id}`));
    const root = spans.find((s) => s.name === `workflow ${id}`);
    expect(root?.parentSpanId).toBe(caller);
    expect(root?.attributes["workflow.hook.id"]).toBe(hook.hook_id);
  }, 30_000);

  it("delivers a webhook callback as a span of the run's trace, sending its traceparent", async () => {
    const id = await publish(simpleFlow());
    const created = await post("/hooks", {
      flow_id: id,
      mode: "async",
      auth: "bearer",
      rate_per_minute: 0,
      mapping: { AGENT_USER_INPUT: "body.name" },
      callback_url: `${receiver.url}/cb/otel`,
    });
    const hook = (await created.json()) as { hook_id: string; token: string };
    const res = await fetch(`${base}/hooks/${hook.hook_id}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${hook.token}` },
      body: JSON.stringify({ name: "cb" }),
    });
    const { run_id } = (await res.json()) as { run_id: string };
    let got: Received[] = [];
    const deadline = Date.now() + 15_000;
    while (got.length === 0 && Date.now() < deadline) {
      got = (await (await fetch(`${receiver.url}/__received/cb/otel`)).json()) as Received[];
      if (got.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const tp = got[0]?.headers.traceparent ?? "";
    const run = (await (await fetch(`${base}/runs/${run_id}`, { headers: APP })).json()) as { traceId: string };
    expect(tp.split("-")[1]).toBe(run.traceId);
    const spans = await spansOf(run.traceId, (s) => s.some((x) => x.name === "webhook callback"));
    const delivery = spans.find((s) => s.name === "webhook callback") as DecodedSpan;
    const root = spans.find((s) => s.name === `workflow ${id}`) as DecodedSpan;
    expect(delivery.parentSpanId).toBe(root.spanId);
    expect(delivery.attributes["workflow.callback.attempt"]).toBe(1);
    const call = spans.find((s) => s.parentSpanId === delivery.spanId) as DecodedSpan;
    expect(call).toMatchObject({ name: "POST", kind: 3 });
    expect(call.attributes["http.response.status_code"]).toBe(200);
    expect(tp).toBe(`00-${run.traceId}-${call.spanId}-01`);
  }, 30_000);

  it("answers the same whether the collector hangs, is down or answers 503; it recovers", async () => {
    const id = await publish(simpleFlow());
    const runOnce = async (n: number): Promise<{ content: string; traceId: string }> => {
      const res = await post("/workflow/v1/chat/completions", {
        flow_id: id,
        stream: false,
        parameters: { AGENT_USER_INPUT: `v${n}` },
      });
      const frame = (await res.json()) as Frame;
      const run = (await (
        await fetch(`${base}/runs/${res.headers.get("x-run-id") ?? ""}`, { headers: APP })
      ).json()) as { traceId: string; status: string };
      expect(run.status).toBe("completed");
      return { content: frame.choices[0]?.delta.content ?? "", traceId: run.traceId };
    };
    const modes = ["hang", "down", "error"] as const;
    for (const [i, m] of modes.entries()) {
      otlp.mode(m);
      const before = otlp.requests().length;
      expect((await runOnce(i)).content).toBe(`{"echo":"v${i}"}`);
      // the export was attempted (and failed) in the background
      const deadline = Date.now() + 10_000;
      while (otlp.requests().length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(otlp.requests().length).toBeGreaterThan(before);
    }
    otlp.mode("ok");
    const after = await runOnce(9);
    expect(after.content).toBe('{"echo":"v9"}');
    const spans = await spansOf(after.traceId, (s) => s.some((x) => x.name === `workflow ${id}`));
    expect(spans.some((x) => x.name === `workflow ${id}`)).toBe(true);
    // a failed export is a log line with the host and a count, never the headers
    const deadline = Date.now() + 5000;
    while (!output.includes("[otel] export of") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(output).toContain("[otel] export of");
    expect(output).not.toContain(HEADER_SECRET);
  }, 60_000);
});
