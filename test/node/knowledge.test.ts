// Knowledge nodes (spec §5.11, §5.13; services spec §3.3–3.5) built from the real Astron templates and run against a
// fake knowledge service on loopback: the exact request bodies, the frames a client sees, the codes of every failure.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { HistoryItem } from "../../src/engine/plugin.ts";
import type { Frame } from "../../src/engine/types.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type FlowBuilder, type Json } from "../support/dsl-builder.ts";
import {
  describeFrame,
  frameNode,
  runFlow,
  runInfo,
  Scripts,
  testRegistry,
  type RunFlowOptions,
} from "../support/engine-harness.ts";
import {
  ACHAT_PATH,
  CHUNK_QUERY_PATH,
  DEFAULT_RESULTS,
  startFakeKnowledge,
  type FakeKnowledge,
} from "../support/fake-knowledge.ts";
import { loadFixture } from "../support/fixtures.ts";

let kb: FakeKnowledge;
beforeAll(async () => {
  kb = await startFakeKnowledge();
});
afterAll(async () => {
  await kb.close();
});

const KB = "knowledge-base::k";
const PRO = "knowledge-pro-base::p";

/** A node from its real template (biz → core, spec §4.8), its query wired to the start node's user input. */
function fromTemplate(
  fixture: string,
  id: string,
  params: Record<string, Json>,
  extra: { retry?: Record<string, Json>; outputs?: Json[] } = {},
): Record<string, Json> {
  const core = bizNodeToCore(loadFixture(fixture));
  core.id = id;
  core.data.nodeParam = { ...core.data.nodeParam, ...params };
  core.data.inputs = [
    {
      name: "query",
      schema: { type: "string", value: { type: "ref", content: { nodeId: START, name: "AGENT_USER_INPUT" } } },
    },
  ];
  if (extra.outputs) core.data.outputs = extra.outputs as Record<string, unknown>[];
  if (extra.retry) core.data.retryConfig = extra.retry;
  return core as unknown as Record<string, Json>;
}

function withNode(b: FlowBuilder, node: Record<string, Json>): FlowBuilder {
  b.nodes.push(node);
  return b;
}

/** start → knowledge-base → end (variable mode: the answer is the results as JSON) */
function kbFlow(params: Record<string, Json> = {}, retry?: Record<string, Json>): unknown {
  const b = flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [{ name: "out", type: "array", ref: { node: KB, name: "results" } }],
    });
  return withNode(
    b,
    fromTemplate("knowledge-base.json", KB, { repoId: ["repo_1"], flowId: "7266", ...params }, retry ? { retry } : {}),
  )
    .edge(START, KB)
    .edge(KB, END)
    .build();
}

const PRO_PARAMS: Record<string, Json> = {
  appId: "a01c2bc7",
  apiKey: "key-123456",
  apiSecret: "secret-abcdef",
  repoIds: ["repo_1"],
  answerRole: "You are a helpful support agent.",
};

/** start → knowledge-pro → end (prompt mode, streamed: `A:{{out}}`) */
function proFlow(
  params: Record<string, Json> = {},
  extra: { retry?: Record<string, Json>; outputs?: Json[]; template?: string } = {},
): unknown {
  const b = flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(END, {
      params: { outputMode: 1, template: extra.template ?? "A:{{out}}", streamOutput: true },
      inputs: [{ name: "out", ref: { node: PRO, name: "output" } }],
    });
  return withNode(b, fromTemplate("knowledge-pro-base.json", PRO, { ...PRO_PARAMS, ...params }, extra))
    .edge(START, PRO)
    .edge(PRO, END)
    .build();
}

function opts(query: string, more: RunFlowOptions = {}): RunFlowOptions {
  return {
    registry,
    fetch: createGuardedFetch(fetch, { allowPrivate: true }),
    config: { KNOWLEDGE_URL: kb.url, KNOWLEDGE_PRO_URL: kb.proUrl },
    parameters: { AGENT_USER_INPUT: query },
    ...more,
  };
}

function lastBody(path: string): Record<string, unknown> {
  return kb.requests(path).at(-1)?.body ?? {};
}

function endFrameOf(frames: Frame[], id: string): Frame {
  const f = frames.find((x) => describeFrame(x) === `${id}:end`);
  if (!f) throw new Error(`no end frame for ${id}: ${frames.map(describeFrame).join(", ")}`);
  return f;
}

function answerOf(frames: Frame[]): string {
  return frames
    .filter((f) => frameNode(f) === END)
    .map((f) => f.choices[0]?.delta.content ?? "")
    .join("");
}

describe("knowledge-base node", () => {
  it("sends the chunk/query body of spec §5.11 and outputs data.results", async () => {
    const { frames, outcome } = await runFlow(kbFlow(), opts("How do I reset my password?"));
    expect(outcome).toMatchObject({ status: "completed", outputs: { out: DEFAULT_RESULTS } });
    // the template's topN 3 arrives as the console's string; no history without chat history v2
    expect(lastBody(CHUNK_QUERY_PATH)).toEqual({
      query: "How do I reset my password?",
      topN: "3",
      ragType: "AIUI-RAG2",
      match: { repoId: ["repo_1"], docIds: [], flowId: "7266", threshold: 0.1 },
    });
    expect(kb.requests(CHUNK_QUERY_PATH).at(-1)?.headers["content-type"]).toBe("application/json");
    expect(endFrameOf(frames, KB).workflow_step?.node?.outputs).toEqual({ results: DEFAULT_RESULTS });
  });

  it("passes ragType, docIds, score and a numeric topN as the string the service expects", async () => {
    await runFlow(kbFlow({ topN: 2, ragType: "CBG-RAG", docIds: ["d1", "d2"], score: 0.35 }), opts("q-cbg"));
    expect(lastBody(CHUNK_QUERY_PATH)).toMatchObject({
      topN: "2",
      ragType: "CBG-RAG",
      match: { repoId: ["repo_1"], docIds: ["d1", "d2"], threshold: 0.35 },
    });
  });

  it("sends the request history untrimmed only when chat history v2 is on", async () => {
    const history: HistoryItem[] = [
      { role: "user", content: "hi", content_type: "text" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "and then?", content_type: "text" },
    ];
    const info = { ...runInfo(), history };
    await runFlow(kbFlow({ enableChatHistoryV2: { isEnabled: true, rounds: 1 } }), opts("with history", { info }));
    expect(lastBody(CHUNK_QUERY_PATH).history).toEqual([
      { role: "user", content: "hi", content_type: "text" },
      { role: "assistant", content: "hello", content_type: "text" },
      { role: "user", content: "and then?", content_type: "text" },
    ]);
    await runFlow(kbFlow({ enableChatHistoryV2: { isEnabled: false, rounds: 1 } }), opts("history off", { info }));
    expect(lastBody(CHUNK_QUERY_PATH)).not.toHaveProperty("history");
  });

  it("turns a provider error code into 20500 `err code X, reason Y, sid Z`", async () => {
    const { frames, outcome } = await runFlow(kbFlow(), opts("__error__"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    const message = outcome.status === "failed" ? outcome.error.message : "";
    expect(message).toContain("err code 10027, reason AIUI knowledge base request failed, sid null");
    expect(frames.map(describeFrame)).toContain(`${KB}:error:20500`);
  });

  it("reports the service's own validation (topN above 5) as 20500 with its message", async () => {
    const { outcome } = await runFlow(kbFlow({ topN: "7" }), opts("too many"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(outcome.status === "failed" ? outcome.error.message : "").toMatch(
      /err code 10003, reason Request parameter error: .*body\.topN/,
    );
  });

  it("turns an HTTP 500 into 20500", async () => {
    kb.script("http-500", { kind: "http", status: 500 });
    const { outcome } = await runFlow(kbFlow(), opts("http-500"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(outcome.status === "failed" ? outcome.error.message : "").toContain("HTTP 500");
  });

  it("fails a slow service at the retry timeout with the engine's 22302", async () => {
    const t0 = Date.now();
    const { outcome } = await runFlow(
      kbFlow({}, { shouldRetry: true, timeout: 0.3, maxRetries: 0, errorStrategy: 0 }),
      opts("__slow__"),
    );
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 22302, message: expect.stringContaining("Node execution timeout") },
    });
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it("retries a failed attempt and succeeds on the second call", async () => {
    kb.script("flaky", { kind: "http", status: 500 }, { kind: "results", results: DEFAULT_RESULTS.slice(0, 1) });
    const { outcome } = await runFlow(
      kbFlow({}, { shouldRetry: true, timeout: 5, maxRetries: 2, errorStrategy: 0 }),
      opts("flaky"),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { out: DEFAULT_RESULTS.slice(0, 1) } });
    expect(kb.calls("flaky")).toBe(2);
  });

  it("strategy 0 aborts with 20500 after maxRetries + 1 calls", async () => {
    kb.script("down-0", { kind: "error", code: 14999, message: "Internal server error: boom" });
    const { outcome } = await runFlow(
      kbFlow({}, { shouldRetry: true, timeout: 5, maxRetries: 1, errorStrategy: 0 }),
      opts("down-0"),
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(kb.calls("down-0")).toBe(2);
  });

  it("strategy 1 gives the custom output with the error in error_outputs", async () => {
    kb.script("down-1", { kind: "error", code: 10027, message: "AIUI down" });
    const custom: Json = {
      results: [{ score: 0, docId: "none", title: "", content: "fallback", context: "", references: {} }],
    };
    const { frames, outcome } = await runFlow(
      kbFlow({}, { shouldRetry: true, timeout: 5, maxRetries: 2, errorStrategy: 1, customOutput: custom }),
      opts("down-1"),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { out: custom.results } });
    expect(kb.calls("down-1")).toBe(3);
    expect(endFrameOf(frames, KB).workflow_step?.node?.error_outputs).toMatchObject({
      errorCode: 20500,
      errorMessage: expect.stringContaining("err code 10027"),
    });
  });

  it("strategy 2 takes only the fail branch", async () => {
    kb.script("down-2", { kind: "http", status: 500 });
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("noop::ok")
      .node("noop::failed", { inputs: [{ name: "code", type: "integer", ref: { node: KB, name: "errorCode" } }] })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "err", type: "integer", ref: { node: KB, name: "errorCode" } }],
      });
    withNode(
      b,
      fromTemplate(
        "knowledge-base.json",
        KB,
        { repoId: ["repo_1"] },
        { retry: { shouldRetry: true, timeout: 5, maxRetries: 0, errorStrategy: 2 } },
      ),
    )
      .edge(START, KB)
      .edge(KB, "noop::ok")
      .edge(KB, "noop::failed", "intent_chain|fail_one_of::f1")
      .edge("noop::ok", END)
      .edge("noop::failed", END);
    // the harness registry: the real knowledge plugins plus scripted `noop` nodes that count their calls
    const scripts = new Scripts();
    const { outcome } = await runFlow(b.build(), { ...opts("down-2"), registry: testRegistry(scripts), scripts });
    expect(outcome).toMatchObject({ status: "completed", outputs: { err: 20500 } });
    expect(scripts.callsOf("noop::ok")).toBe(0);
    expect(scripts.callsOf("noop::failed")).toBe(1);
  });

  it("is refused at a private KNOWLEDGE_URL when the guard does not allow private addresses", async () => {
    const before = kb.requests().length;
    const { outcome } = await runFlow(kbFlow(), opts("private", { fetch: createGuardedFetch(fetch) }));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(kb.requests().length).toBe(before);
  });

  it("fails clearly when KNOWLEDGE_URL is not configured", async () => {
    const { outcome } = await runFlow(kbFlow(), opts("q", { config: {} }));
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 20501, message: expect.stringContaining("KNOWLEDGE_URL is not configured") },
    });
  });
});

describe("knowledge-pro-base node", () => {
  it("sends the rag/llm body of spec §5.13 and streams the answer into the end node before it finishes", async () => {
    const { frames, outcome } = await runFlow(proFlow(), opts("What is the refund policy?"));
    expect(outcome.status).toBe("completed");
    expect(lastBody(ACHAT_PATH)).toEqual({
      prompt: "You are a helpful support agent.",
      rag: {
        type: "AIUI-RAG2",
        repo_id: ["repo_1"],
        doc_id: [],
        topN: 3,
        mode: "DeepSearch",
        threshold: 0.1,
        llm: {
          app_id: "a01c2bc7",
          api_key: "key-123456",
          api_secret: "secret-abcdef",
          base_url: "https://maas-api.cn-huabei-1.xf-yun.com/v2",
          model: "xdeepseekv3",
          max_token: 2048,
          top_k: 4,
          temperature: 0.5,
        },
      },
      messages: [{ role: "user", content: "What is the refund policy?" }],
      meta_data: { caller: "workflow", caller_sid: "spf-test" },
    });
    expect(answerOf(frames)).toBe("A:Refunds are possible within 7 days.");
    // the first token is a process frame of the end node, emitted before the knowledge node's end frame
    const order = frames.map(describeFrame);
    const firstToken = order.indexOf(`${END}:process:Refunds are possible `);
    expect(firstToken).toBeGreaterThan(-1);
    expect(firstToken).toBeLessThan(order.indexOf(`${PRO}:end`));
    expect(endFrameOf(frames, PRO).workflow_step?.node?.outputs).toEqual({
      output: "Refunds are possible within 7 days.",
      result: [{ source_id: "doc_3", chunk: [{ chunk_context: "Refunds within 7 days", score: 0.77 }] }],
    });
  });

  it("maps repoType 2 / ragType 2 to CBG-RAG / LongRAG with the doc ids", async () => {
    await runFlow(proFlow({ repoType: 2, ragType: 2, docIds: ["doc_1"] }), opts("cbg"));
    expect(lastBody(ACHAT_PATH)).toMatchObject({ rag: { type: "CBG-RAG", mode: "LongRAG", doc_id: ["doc_1"] } });
  });

  it("keeps the last metadata seen even when answer frames follow it [new]", async () => {
    kb.script("meta-middle", {
      frames: [
        { metadata: [{ source_id: "old" }] },
        { answer: "one " },
        { metadata: [{ source_id: "new" }] },
        { answer: "two" },
      ],
    });
    const { frames } = await runFlow(proFlow(), opts("meta-middle"));
    expect(endFrameOf(frames, PRO).workflow_step?.node?.outputs).toEqual({
      output: "one two",
      result: [{ source_id: "new" }],
    });
  });

  it("renders a reference to `result` from the metadata instead of relaying the answer stream into it (spec §5.13)", async () => {
    kb.script("quiet-result", { frames: [{ answer: "yes" }, { metadata: [{ source_id: "m1" }] }] });
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node(END, {
        params: { outputMode: 1, template: "A:{{out}} R:{{res}}", streamOutput: true },
        inputs: [
          { name: "out", ref: { node: PRO, name: "output" } },
          { name: "res", ref: { node: PRO, name: "result" } },
        ],
      });
    const dsl = withNode(b, fromTemplate("knowledge-pro-base.json", PRO, PRO_PARAMS, {}))
      .edge(START, PRO)
      .edge(PRO, END)
      .build();
    const { frames, outcome } = await runFlow(dsl, opts("quiet-result"));
    expect(outcome.status).toBe("completed");
    const said = frames
      .filter((f) => f.workflow_step?.node?.id === END)
      .map((f) => f.choices[0]?.delta.content ?? "")
      .join("");
    expect(said).toBe('A:yes R:[{"source_id": "m1"}]');
  });

  it("reads tolerant framing: \\r\\n endings, comments, event lines", async () => {
    kb.script("framing", {
      frames: [
        { raw: ": ping\r\n\r\n" },
        {
          raw: `event: message\r\ndata: ${JSON.stringify({ code: 0, data: { content_type: "answer", content: "hel" } })}\r\n\r\n`,
        },
        { raw: `data:${JSON.stringify({ code: 0, data: { content: "lo" } })}\n` },
      ],
    });
    const { frames, outcome } = await runFlow(proFlow(), opts("framing"));
    expect(outcome.status).toBe("completed");
    expect(answerOf(frames)).toBe("A:hello");
  });

  it("turns an error frame into 20500 `err code X, reason Y, sid Z`", async () => {
    const { outcome } = await runFlow(proFlow(), opts("__error__"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(outcome.status === "failed" ? outcome.error.message : "").toContain(
      "err code 10027, reason AIUI knowledge base request failed, sid kp-1",
    );
  });

  it("turns an HTTP error into 20500 without leaking the credentials", async () => {
    kb.script("pro-502", { status: 502 });
    const { outcome } = await runFlow(proFlow(), opts("pro-502"));
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 20500, message: expect.stringContaining("HTTP 502") },
    });
    const text = JSON.stringify(outcome);
    expect(text).not.toContain("key-123456");
    expect(text).not.toContain("secret-abcdef");
  });

  it("finishes with what it has when the stream is cut before [DONE]", async () => {
    const { frames, outcome } = await runFlow(proFlow(), opts("__cut__"));
    expect(outcome.status).toBe("completed");
    expect(answerOf(frames)).toBe("A:Refunds are possible ");
    expect(endFrameOf(frames, PRO).workflow_step?.node?.outputs).toEqual({ output: "Refunds are possible " });
  });

  it("fails with 20501 `response timeout` when the service stalls past the per-read timeout, retrying before any token", async () => {
    kb.script("stall", { stallMs: 5_000 });
    const t0 = Date.now();
    const { outcome } = await runFlow(
      proFlow({}, { retry: { shouldRetry: true, timeout: 0.3, maxRetries: 1, errorStrategy: 0 } }),
      opts("stall"),
    );
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 20501, message: expect.stringContaining("response timeout") },
    });
    expect(kb.calls("stall")).toBe(2);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it("aborts without retry or strategy when the stream stalls after the first token was shown", async () => {
    kb.script("stall-after-token", { stallAfter: 1, stallMs: 5_000 });
    const { frames, outcome } = await runFlow(
      proFlow(
        {},
        {
          retry: {
            shouldRetry: true,
            timeout: 0.3,
            maxRetries: 2,
            errorStrategy: 1,
            customOutput: { output: "x", result: [] },
          },
        },
      ),
      opts("stall-after-token"),
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20501 } });
    expect(kb.calls("stall-after-token")).toBe(1);
    expect(frames.map(describeFrame)).toContain(`${END}:process:A:`);
  });

  it("retries an error frame before any token and succeeds on the second call", async () => {
    kb.script("pro-flaky", { frames: [{ error: { code: 11111, message: "busy" } }] }, {});
    const { frames, outcome } = await runFlow(
      proFlow({}, { retry: { shouldRetry: true, timeout: 5, maxRetries: 1, errorStrategy: 0 } }),
      opts("pro-flaky"),
    );
    expect(outcome.status).toBe("completed");
    expect(kb.calls("pro-flaky")).toBe(2);
    expect(answerOf(frames)).toBe("A:Refunds are possible within 7 days.");
  });

  it("strategy 1 gives the custom output and the end node renders it", async () => {
    kb.script("pro-down", { frames: [{ error: { code: 10027, message: "down" } }] });
    const { frames, outcome } = await runFlow(
      proFlow(
        {},
        {
          retry: {
            shouldRetry: true,
            timeout: 5,
            maxRetries: 0,
            errorStrategy: 1,
            customOutput: { output: "sorry", result: [] },
          },
        },
      ),
      opts("pro-down"),
    );
    expect(outcome.status).toBe("completed");
    expect(answerOf(frames)).toBe("A:sorry");
    expect(endFrameOf(frames, PRO).workflow_step?.node?.error_outputs).toMatchObject({ errorCode: 20500 });
  });

  it("drops the service connection when the run is cancelled mid-stream", async () => {
    kb.script("long", { frames: Array.from({ length: 20 }, (_, i) => ({ answer: `t${i} ` })), delayMs: 100 });
    const cancel = new AbortController();
    const droppedBefore = kb.dropped();
    setTimeout(() => cancel.abort(new Error("client gone")), 250);
    const t0 = Date.now();
    const { outcome } = await runFlow(proFlow(), opts("long", { signal: cancel.signal }));
    expect(outcome.status).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(1_500);
    await new Promise((r) => setTimeout(r, 50));
    expect(kb.dropped()).toBe(droppedBefore + 1);
  });

  it("fails with 20502 before any call when repoType 2 has no docIds", async () => {
    const before = kb.requests(ACHAT_PATH).length;
    const { outcome } = await runFlow(proFlow({ repoType: 2, docIds: [] }), opts("no-docs"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20502 } });
    expect(kb.requests(ACHAT_PATH).length).toBe(before);
  });

  it("validates the outputs against the declared schema (20601)", async () => {
    const outputs: Json[] = [
      { name: "output", schema: { type: "string" } },
      { name: "result", schema: { type: "string" } },
    ];
    const { outcome } = await runFlow(proFlow({}, { outputs }), opts("schema"));
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 20601, message: expect.stringContaining("result") },
    });
  });

  it("is refused at a private KNOWLEDGE_PRO_URL when the guard does not allow private addresses", async () => {
    const before = kb.requests().length;
    const { outcome } = await runFlow(proFlow(), opts("private", { fetch: createGuardedFetch(fetch) }));
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20500 } });
    expect(kb.requests().length).toBe(before);
  });

  it("fails clearly when KNOWLEDGE_PRO_URL is not configured", async () => {
    const { outcome } = await runFlow(proFlow(), opts("q", { config: { KNOWLEDGE_URL: kb.url } }));
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 20501, message: expect.stringContaining("KNOWLEDGE_PRO_URL is not configured") },
    });
  });

  it("rejects a node without repositories at build time (22101)", () => {
    const dsl = proFlow({ repoIds: [] });
    expect(() => compile(dsl, registry)).toThrow(expect.objectContaining({ code: 22101 }));
  });
});
