// Issue 17: the engine's side of traces, on Node against real fake services. A flow with a branch, a retried node
// with an error strategy, an iteration, a question-answer wait (across capture/restore) and model calls becomes a
// span tree with the right parents, names, nesting in time and attributes; every outbound call carries the
// traceparent of the client span that made it; and what the exporter encodes (with @opentelemetry/otlp-transformer)
// decodes in the fake collector to the same spans, protobuf and JSON.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeSpans,
  exportCounters,
  MAX_BUFFERED_SPANS,
  otelConfig,
  parseHeaders,
  SpanQueue,
} from "../../src/durable/otlp-export.ts";
import { compile } from "../../src/engine/compile.ts";
import { createGuardedFetch } from "../../src/engine/net.ts";
import { Run, type RunOptions } from "../../src/engine/run.ts";
import {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  redactUrl,
  RunTracer,
  type SpanRecord,
} from "../../src/engine/trace.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, OPTION_QUESTION } from "../support/dsl-builder.ts";
import { runInfo } from "../support/engine-harness.ts";
import { startFakeAgent } from "../support/fake-agent.ts";
import { startFakeCodeExecutor, type FakeCodeExecutor } from "../support/fake-code-executor.ts";
import { startFakeKnowledge, type FakeKnowledge } from "../support/fake-knowledge.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { decodeJson, decodeProtobuf } from "../support/fake-otlp.ts";
import { startFakeRpa, type FakeRpa } from "../support/fake-rpa.ts";
import { loadFixture } from "../support/fixtures.ts";
import { llmNode } from "../support/llm-flow.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";

let llm: FakeOpenAI;
let agent: Awaited<ReturnType<typeof startFakeAgent>>;
let exec: FakeCodeExecutor;
let rpa: FakeRpa;
let kb: FakeKnowledge;
beforeAll(async () => {
  [llm, agent, exec, rpa, kb] = await Promise.all([
    startFakeOpenAI(),
    startFakeAgent(),
    startFakeCodeExecutor(),
    startFakeRpa({ pingMs: 10, pings: 1 }),
    startFakeKnowledge(),
  ]);
});
afterAll(async () => {
  await Promise.all([llm.close(), agent.close(), exec.close(), rpa.close(), kb.close()]);
});

describe("traceparent (W3C Trace Context)", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const span = "00f067aa0ba902b7";
  it("accepts a valid header and formats it back", () => {
    expect(parseTraceparent(`00-${id}-${span}-01`)).toEqual({ traceId: id, spanId: span, flags: 1 });
    expect(parseTraceparent(`00-${id}-${span}-00`)).toEqual({ traceId: id, spanId: span, flags: 0 });
    expect(formatTraceparent({ traceId: id, spanId: span, flags: 1 })).toBe(`00-${id}-${span}-01`);
    // a later version may carry more fields
    expect(parseTraceparent(`01-${id}-${span}-01-later`)).toEqual({ traceId: id, spanId: span, flags: 1 });
  });

  it("ignores every invalid form", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      `00-${id.toUpperCase()}-${span}-01`,
      `00-${"0".repeat(32)}-${span}-01`,
      `00-${id}-${"0".repeat(16)}-01`,
      `ff-${id}-${span}-01`,
      `00-${id}-${span}-01-extra`,
      `00-${id.slice(1)}-${span}-01`,
      `00-${id}-${span}-1`,
      `0-${id}-${span}-01`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });

  it("makes ids that are random, well-formed and never all zero", () => {
    const ids = new Set(Array.from({ length: 50 }, () => newTraceId()));
    expect(ids.size).toBe(50);
    for (const t of ids) expect(t).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });

  it("keeps credentials out of url.full", () => {
    expect(redactUrl(new URL("https://user:pw@h.example/p?key=secret&x=1#frag"))).toBe(
      "https://h.example/p?key=REDACTED&x=REDACTED",
    );
  });
});

// ---- the span tree ----------------------------------------------------------------------------------------------

const ITEM_LLM = "spark-llm::inner";

function bigFlow(): unknown {
  const good = llmNode(llm.url, {
    tokens: ["he", "llo"],
    usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 },
  });
  const bad = llmNode(llm.url, { status: 500 });
  return flow()
    .node(START, {
      outputs: [{ name: "AGENT_USER_INPUT" }, { name: "items", type: "array", schema: { items: { type: "string" } } }],
    })
    .node("spark-llm::good", {
      params: good,
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "output" }],
    })
    .node("spark-llm::bad", {
      params: bad,
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "output" }],
      retry: { shouldRetry: true, maxRetries: 1, errorStrategy: 1, customOutput: { output: "fallback" } },
    })
    .node("iteration::it", {
      params: { IterationStartNodeId: "iteration-node-start::is" },
      inputs: [{ name: "input", type: "array", ref: { node: START, name: "items" } }],
      outputs: [{ name: "output", type: "array", schema: { items: { type: "string" } } }],
    })
    .node("iteration-node-start::is", { outputs: [{ name: "input" }] })
    .node(ITEM_LLM, {
      params: llmNode(llm.url, { tokens: ["item"] }),
      inputs: [{ name: "input", ref: { node: "iteration-node-start::is", name: "input" } }],
      outputs: [{ name: "output" }],
    })
    .node("iteration-node-end::ie", {
      params: { outputMode: 0 },
      inputs: [{ name: "output", ref: { node: ITEM_LLM, name: "output" } }],
    })
    .node("question-answer::q", OPTION_QUESTION)
    .node("message::yes", { params: { template: "shipping", streamOutput: true } })
    .node("message::later", { params: { template: "deferred", streamOutput: true } })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "good", ref: { node: "spark-llm::good", name: "output" } },
        { name: "bad", ref: { node: "spark-llm::bad", name: "output" } },
        { name: "all", type: "array", ref: { node: "iteration::it", name: "output" } },
        { name: "answer", ref: { node: "question-answer::q", name: "content" } },
      ],
    })
    .edge(START, "spark-llm::good")
    .edge("spark-llm::good", "spark-llm::bad")
    .edge("spark-llm::bad", "iteration::it")
    .edge("iteration-node-start::is", ITEM_LLM)
    .edge(ITEM_LLM, "iteration-node-end::ie")
    .edge("iteration::it", "question-answer::q")
    .edge("question-answer::q", "message::yes", "option-one-of::a")
    .edge("question-answer::q", "message::later", "option-one-of::d")
    .edge("message::yes", END)
    .edge("message::later", END)
    .build();
}

function tracer(spans: SpanRecord[], captureContent = false): RunTracer {
  return new RunTracer({
    root: { traceId: newTraceId(), spanId: newSpanId(), flags: 1 },
    sink: (s) => spans.push(s),
    now: () => Date.now(),
    captureContent,
    common: { "workflow.run.id": "run-1" },
  });
}

function options(
  t: RunTracer | undefined,
  parameters: Record<string, unknown> = { AGENT_USER_INPUT: "q", items: ["a", "b"] },
): RunOptions {
  return {
    registry,
    sid: "spf-trace",
    info: runInfo(),
    parameters,
    emit: () => undefined,
    fetch: createGuardedFetch(fetch, { allowPrivate: true }),
    ...(t ? { tracer: t } : {}),
  };
}

const byName = (spans: SpanRecord[], name: string): SpanRecord[] => spans.filter((s) => s.name === name);
const one = (spans: SpanRecord[], name: string): SpanRecord => {
  const found = byName(spans, name);
  expect(found, name).toHaveLength(1);
  return found[0] as SpanRecord;
};

describe("a run's spans", () => {
  it("form the tree of the run: attempts, retries, strategy, items, wait (across a restore) and model calls", async () => {
    const spans: SpanRecord[] = [];
    const t = tracer(spans);
    const before = llm.requests().length;
    const plan = compile(bigFlow(), registry);
    const first = new Run(plan, options(t));
    const paused = await first.execute();
    expect(paused.status).toBe("interrupted");
    // the run object keeps the state and builds a new engine for the answer (an eviction in between)
    const state = first.capture();
    await new Promise((r) => setTimeout(r, 15));
    const t2 = new RunTracer({
      root: t.root,
      sink: (s) => spans.push(s),
      now: () => Date.now(),
      common: { "workflow.run.id": "run-1" },
    });
    const answeredBy = { traceId: newTraceId(), spanId: newSpanId(), flags: 1 };
    t2.resumedBy = answeredBy;
    const outcome = await new Run(plan, options(t2), state).resume({ eventType: "resume", content: "A" });
    expect(outcome).toMatchObject({
      status: "completed",
      outputs: { good: "hello", bad: "fallback", all: ["item", "item"], answer: "yes" },
    });

    // one trace; every parent is the root or a span of the run
    const root = t.root;
    const ids = new Map(spans.map((s) => [s.spanId, s]));
    for (const s of spans) {
      expect(s.traceId).toBe(root.traceId);
      expect(s.parentSpanId === root.spanId || ids.has(s.parentSpanId ?? ""), `${s.name} has a known parent`).toBe(
        true,
      );
      expect(s.attributes["workflow.run.id"]).toBe("run-1");
      // a child lies within its parent
      const parent = ids.get(s.parentSpanId ?? "");
      if (parent) {
        expect(s.start, `${s.name} starts inside ${parent.name}`).toBeGreaterThanOrEqual(parent.start);
        expect(s.end, `${s.name} ends inside ${parent.name}`).toBeLessThanOrEqual(parent.end);
      }
      expect(s.end).toBeGreaterThanOrEqual(s.start);
    }

    // node attempts hang under the root; a skipped node is no span
    const start = one(spans, START);
    expect(start.parentSpanId).toBe(root.spanId);
    expect(start.attributes).toMatchObject({
      "workflow.node.id": START,
      "workflow.node.type": "node-start",
      "workflow.node.attempt": 1,
      "workflow.node.outcome": "success",
    });
    expect(byName(spans, "message::later")).toHaveLength(0);
    expect(one(spans, "message::yes").parentSpanId).toBe(root.spanId);
    expect(one(spans, END).attributes["workflow.node.outcome"]).toBe("success");

    // a retry is a second attempt; the strategy shows on the last one
    const bad = byName(spans, "spark-llm::bad").sort((a, b) => a.start - b.start);
    expect(bad.map((s) => s.attributes["workflow.node.attempt"])).toEqual([1, 2]);
    expect(bad.map((s) => s.attributes["workflow.node.outcome"])).toEqual(["retry", "error_strategy"]);
    expect(bad[1]?.attributes["workflow.node.error_strategy"]).toBe("custom_output");
    expect(bad.every((s) => s.status.code === 2 && s.attributes["error.type"] === "20380")).toBe(true);
    expect((bad[0] as SpanRecord).end).toBeLessThanOrEqual((bad[1] as SpanRecord).start);

    // iteration items are children of the iteration's attempt, and the items' nodes children of their item
    const iteration = one(spans, "iteration::it");
    const items = spans.filter((s) => s.name.startsWith("item ")).sort((a, b) => a.start - b.start);
    expect(items.map((s) => s.name)).toEqual(["item 0", "item 1"]);
    expect(items.map((s) => s.parentSpanId)).toEqual([iteration.spanId, iteration.spanId]);
    const inner = byName(spans, ITEM_LLM);
    expect(inner.map((s) => s.parentSpanId).sort()).toEqual(items.map((s) => s.spanId).sort());

    // the question: an attempt that ends at the interrupt, the wait, and the attempt that takes the answer
    const q = byName(spans, "question-answer::q").sort((a, b) => a.start - b.start);
    expect(q.map((s) => s.attributes["workflow.node.outcome"])).toEqual(["interrupted", "success"]);
    expect(q[1]?.attributes["workflow.node.resumed"]).toBe(true);
    const wait = one(spans, "wait question-answer::q");
    expect(wait.parentSpanId).toBe(root.spanId);
    expect(wait.start).toBeGreaterThanOrEqual((q[0] as SpanRecord).end);
    expect(wait.end).toBeLessThanOrEqual((q[1] as SpanRecord).start);
    expect(wait.end - wait.start).toBeGreaterThanOrEqual(10);
    expect(wait.attributes["workflow.wait.duration_ms"]).toBe(wait.end - wait.start);
    expect(wait.links).toEqual([
      { traceId: answeredBy.traceId, spanId: answeredBy.spanId, attributes: { "workflow.link": "resume" } },
    ]);

    // the model call: a GenAI client span under the attempt, its HTTP request a client span under it
    const good = one(spans, "spark-llm::good");
    const chat = spans.find((s) => s.name === "chat fake-model" && s.parentSpanId === good.spanId) as SpanRecord;
    expect(chat.kind).toBe(2);
    expect(chat.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "fake-model",
      "gen_ai.request.temperature": 0.5,
      "gen_ai.request.max_tokens": 100,
      "gen_ai.usage.input_tokens": 11,
      "gen_ai.usage.output_tokens": 2,
      "gen_ai.response.finish_reasons": ["stop"],
      "server.address": "127.0.0.1",
    });
    expect(chat.attributes["gen_ai.response.time_to_first_chunk"]).toEqual(expect.any(Number));
    expect(chat.events.map((e) => e.name)).toEqual(["gen_ai.first_chunk"]);
    // no content unless OTEL_CAPTURE_CONTENT=true
    expect(chat.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(chat.attributes["gen_ai.output.messages"]).toBeUndefined();
    const http = spans.find((s) => s.parentSpanId === chat.spanId) as SpanRecord;
    expect(http).toMatchObject({ name: "POST", kind: 2 });
    expect(http.attributes).toMatchObject({
      "http.request.method": "POST",
      "server.address": "127.0.0.1",
      "http.response.status_code": 200,
      "url.full": `${llm.url}/v1/chat/completions`,
    });
    // a failed request is an error span with the HTTP status as error.type
    const failedHttp = spans.filter(
      (s) => s.name === "POST" && s.attributes["http.response.status_code"] === 500 && s.status.code === 2,
    );
    expect(failedHttp).toHaveLength(2);
    expect(failedHttp[0]?.attributes["error.type"]).toBe("500");

    // every request the provider got carries the traceparent of the HTTP span that sent it
    const httpSpans = new Map(
      spans.filter((s) => s.name === "POST").map((s) => [formatTraceparent({ ...s, flags: 1 }), s]),
    );
    const seen = llm
      .requests()
      .slice(before)
      .map((r) => r.traceparent as string);
    expect(seen).toHaveLength(5); // good, bad twice, one per item
    for (const tp of seen) expect(httpSpans.has(tp), `traceparent ${tp}`).toBe(true);
  });

  it("puts prompt and completion into the GenAI span only when content capture is on", async () => {
    const spans: SpanRecord[] = [];
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("spark-llm::l", {
        params: llmNode(llm.url, { tokens: ["sec", "ret"] }),
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "output" }],
      })
      .node(END, { params: { outputMode: 0 }, inputs: [{ name: "o", ref: { node: "spark-llm::l", name: "output" } }] })
      .edge(START, "spark-llm::l")
      .edge("spark-llm::l", END)
      .build();
    const outcome = await new Run(
      compile(dsl, registry),
      options(tracer(spans, true), { AGENT_USER_INPUT: "q" }),
    ).execute();
    expect(outcome.status).toBe("completed");
    const chat = one(spans, "chat fake-model");
    expect(JSON.parse(chat.attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "system", parts: [{ type: "text", content: "You are helpful." }] },
      { role: "user", parts: [{ type: "text", content: "q" }] },
    ]);
    expect(JSON.parse(chat.attributes["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "secret" }], finish_reason: "stop" },
    ]);
  });

  it("creates no span and sends no traceparent when the run has no tracer", async () => {
    const before = llm.requests().length;
    const outcome = await new Run(compile(bigFlow(), registry), options(undefined)).execute();
    expect(outcome.status).toBe("interrupted");
    const sent = llm.requests().slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((r) => r.traceparent === undefined)).toBe(true);
  });

  it("sends the calling span's traceparent to the agent, the code executor, RPA and knowledge", async () => {
    const single = (id: string, params: Record<string, unknown>, outputs: string[]): unknown =>
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node(id, {
          params: params as never,
          inputs: [
            { name: id.startsWith("knowledge") ? "query" : "input", ref: { node: START, name: "AGENT_USER_INPUT" } },
          ],
          outputs: outputs.map((name) => ({ name, ...(name === "results" ? { type: "array" } : {}) })),
        })
        .node(END, { params: { outputMode: 0 }, inputs: [{ name: "o", ref: { node: id, name: outputs[0] ?? "" } }] })
        .edge(START, id)
        .edge(id, END)
        .build();
    const cases: { id: string; params: Record<string, unknown>; outputs: string[]; sent: () => unknown }[] = [
      {
        id: "agent::a",
        params: {
          modelConfig: { domain: "m", api: "https://x/v1/chat/completions", agentStrategy: 1 },
          instruction: { reasoning: "", answer: "", query: "{{input}}" },
          plugin: { tools: [], mcpServerIds: [], mcpServerUrls: [], workflowIds: [], knowledge: [] },
          maxLoopCount: 3,
        },
        outputs: ["output"],
        sent: () => agent.requests().at(-1)?.traceparent,
      },
      {
        id: "ifly-code::c",
        params: { code: "def main(input):\n    return {'out': input}\n", appId: "a", uid: "u", codeLanguage: "python" },
        outputs: ["out"],
        sent: () => exec.requests().at(-1)?.traceparent,
      },
      {
        id: "rpa::r",
        params: { projectId: "ok", source: "xiaowu", header: { apiKey: "t" } },
        outputs: ["order_date"],
        sent: () => rpa.requests().at(-1)?.traceparent,
      },
      {
        id: "knowledge-base::k",
        params: {
          ...(bizNodeToCore(loadFixture("knowledge-base.json")).data.nodeParam as Record<string, unknown>),
          repoId: ["repo_1"],
          flowId: "7266",
        },
        outputs: ["results"],
        sent: () => kb.requests().at(-1)?.headers.traceparent,
      },
    ];
    for (const c of cases) {
      const spans: SpanRecord[] = [];
      const outcome = await new Run(compile(single(c.id, c.params, c.outputs), registry), {
        ...options(tracer(spans), { AGENT_USER_INPUT: "q" }),
        config: {
          AGENT_API_URL: agent.url,
          CODE_EXEC_URL: exec.url,
          RPA_URL: rpa.url,
          KNOWLEDGE_URL: kb.url,
          KNOWLEDGE_PRO_URL: kb.proUrl,
        },
      }).execute();
      expect(outcome.status, c.id).toBe("completed");
      const node = one(spans, c.id);
      const clients = spans.filter((s) => s.parentSpanId === node.spanId && s.kind === 2);
      expect(clients.length, c.id).toBeGreaterThan(0);
      const tp = c.sent() as string;
      expect(
        clients.some((s) => formatTraceparent({ ...s, flags: 1 }) === tp),
        `${c.id} got ${tp}`,
      ).toBe(true);
    }
  });
});

// ---- encoding ----------------------------------------------------------------------------------------------------

describe("OTLP encoding (otlp-transformer) as the fake collector decodes it", () => {
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const spans: SpanRecord[] = [
    {
      traceId,
      spanId: "b7ad6b7169203331",
      parentSpanId: "00f067aa0ba902b7",
      parentRemote: true,
      name: "workflow 42",
      kind: 1,
      start: 1_764_000_000_123.5,
      end: 1_764_000_001_000,
      attributes: { "workflow.run.id": "r1", "workflow.error.code": 0, ok: true, ratio: 0.25, list: ["a", "b"] },
      events: [{ name: "gen_ai.first_chunk", time: 1_764_000_000_500, attributes: { n: 1 } }],
      links: [{ traceId, spanId: "1111111111111111", attributes: { "workflow.link": "resume" } }],
      status: { code: 2, message: "boom" },
    },
    {
      traceId,
      spanId: "c7ad6b7169203331",
      parentSpanId: "b7ad6b7169203331",
      name: "node-start::s",
      kind: 0,
      start: 1_764_000_000_200,
      end: 1_764_000_000_300,
      attributes: {},
      events: [],
      links: [],
      status: { code: 0 },
    },
  ];

  for (const json of [false, true]) {
    it(`round-trips every field over ${json ? "http/json" : "http/protobuf"}`, () => {
      const { body, contentType } = encodeSpans(spans, { json, serviceName: "svc" });
      expect(contentType).toBe(json ? "application/json" : "application/x-protobuf");
      const decoded = json ? decodeJson(body) : decodeProtobuf(body);
      expect(decoded).toHaveLength(2);
      const [a, b] = decoded;
      expect(a).toMatchObject({
        traceId,
        spanId: "b7ad6b7169203331",
        parentSpanId: "00f067aa0ba902b7",
        name: "workflow 42",
        kind: 2, // OTLP numbers kinds from 1 (internal); SERVER is 2
        startNs: "1764000000123500000",
        endNs: "1764000001000000000",
        attributes: { "workflow.run.id": "r1", "workflow.error.code": 0, ok: true, ratio: 0.25, list: ["a", "b"] },
        events: [{ name: "gen_ai.first_chunk", timeNs: "1764000000500000000", attributes: { n: 1 } }],
        links: [{ traceId, spanId: "1111111111111111", attributes: { "workflow.link": "resume" } }],
        status: { code: 2, message: "boom" },
        resource: { "service.name": "svc" },
        scope: { name: "astron-edge-workflow" },
      });
      expect(b).toMatchObject({
        name: "node-start::s",
        kind: 1,
        parentSpanId: "b7ad6b7169203331",
        status: { code: 0 },
      });
      if (!json) {
        // flags: sampled, and whether the parent is remote (SpanFlags: has-is-remote 0x100, is-remote 0x200)
        expect(a?.flags).toBe(0x301);
        expect(b?.flags).toBe(0x101);
      }
    });
  }
});

describe("exporter configuration (the standard OTEL_* variables)", () => {
  it("is off without an endpoint, or when OTEL_TRACES_ENABLED=false", () => {
    expect(otelConfig({})).toBeNull();
    expect(otelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_ENABLED: "false" })).toBeNull();
    expect(otelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toBeNull();
  });

  it("sends to <endpoint>/v1/traces, or to the traces endpoint as is, with the headers URL-decoded", () => {
    const c = otelConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector.example:4318/",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%2Cb%3Dc, x-team = obs ,broken,=nokey,bad key=v",
      OTEL_SERVICE_NAME: "wf",
    });
    expect(c).toMatchObject({
      url: "https://collector.example:4318/v1/traces",
      headers: { "api-key": "a,b=c", "x-team": "obs" },
      json: false,
      timeoutMs: 5000,
      serviceName: "wf",
      captureContent: false,
    });
    expect(
      otelConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: "https://ignored.example",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://api.example/otlp/traces",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_TIMEOUT: "800",
        OTEL_CAPTURE_CONTENT: "true",
      }),
    ).toMatchObject({ url: "https://api.example/otlp/traces", json: true, timeoutMs: 800, captureContent: true });
    expect(parseHeaders("a=%ZZ,b=2")).toEqual({ b: "2" });
  });

  it("holds at most MAX_BUFFERED_SPANS spans and counts the ones it drops", () => {
    const config = otelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
    const q = new SpanQueue(config as NonNullable<typeof config>);
    const span: SpanRecord = {
      traceId: newTraceId(),
      spanId: newSpanId(),
      name: "x",
      kind: 0,
      start: 0,
      end: 0,
      attributes: {},
      events: [],
      links: [],
      status: { code: 0 },
    };
    const dropped = exportCounters.dropped;
    for (let i = 0; i < MAX_BUFFERED_SPANS + 5; i++) q.add(span);
    expect(q.size).toBe(MAX_BUFFERED_SPANS);
    expect(exportCounters.dropped - dropped).toBe(5);
  });
});
