// Streaming over the worker's real routes with a real LLM node against the fake OpenAI-compatible server
// (spec §12.3 items 7, 11, 12 — item 12 with the OpenAI protocol's code 20380; the Spark protocol arrives later).
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { llmNode, startLlmEnd } from "../support/llm-flow.ts";
import { SPARK_KEY, SPARK_SECRET } from "../support/fake-spark.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps } from "../support/seed.ts";

const url = inject("openaiUrl");
const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

beforeAll(async () => {
  await seedApps();
});

async function addFlow(data: unknown): Promise<string> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ app_id: "d1590f30", name: "llm", description: "", data }),
  });
  const body = (await res.json()) as { code: number; data: { flow_id: string } };
  expect(body.code).toBe(0);
  return body.data.flow_id;
}

async function run(path: string, body: unknown): Promise<Frame[]> {
  const res = await SELF.fetch(`http://astron.test${path}`, {
    method: "POST",
    headers: APP,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return new SseParser().push(`${text}\n\n`).map((e) => JSON.parse(e.data) as Frame);
}

async function publish(id: string): Promise<void> {
  for (const [path, body] of [
    ["/v1/publish", { flow_id: id, release_status: 1, plat: 1 }],
    ["/v1/auth", { flow_id: id, app_id: "d1590f30" }],
  ] as const) {
    const res = await SELF.fetch(`http://astron.test${path}`, {
      method: "POST",
      headers: { ...APP, "X-Consumer-Username": "tenant01" },
      body: JSON.stringify(body),
    });
    expect(((await res.json()) as { code: number }).code).toBe(0);
  }
}

describe("LLM flows over HTTP", () => {
  it("debug stream: flow_obj first and last, LLM and end frames, process frames with answer_mode 1, no nulls (item 7)", async () => {
    const id = await addFlow(startLlmEnd(url, { tokens: ["Hel", "lo", "!"], usage: USAGE }));
    const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ flow_id: id, parameters: { AGENT_USER_INPUT: "hi" } }),
    });
    const text = await res.text();
    expect(text).not.toContain("null");
    const frames = new SseParser().push(`${text}\n\n`).map((e) => JSON.parse(e.data) as Frame);
    expect(frames[0]?.workflow_step?.node).toMatchObject({ id: "flow_obj", finish_reason: "stop" });
    expect(frames[0]?.choices[0]?.finish_reason).toBeUndefined();
    const last = frames.at(-1) as Frame;
    expect(last.workflow_step?.node?.id).toBe("flow_obj");
    expect(last.usage).toEqual({ completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 });
    const end = frames.filter((f) => f.workflow_step?.node?.id === "node-end::e");
    const process = end.filter((f) => f.workflow_step?.node?.ext?.answer_mode === 1);
    expect(process.length).toBeGreaterThan(0);
    expect(end.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe("Hello!");
    expect(
      frames.some((f) => f.workflow_step?.node?.id === "spark-llm::l" && f.workflow_step.node.finish_reason === "stop"),
    ).toBe(true);
  });

  it("answers the message before the end even when the end's LLM finishes first (item 11)", async () => {
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("spark-llm::slow", {
        params: llmNode(url, { tokens: ["s1", "s2"], delayMs: 30 }),
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "output" }],
      })
      .node("spark-llm::fast", {
        params: llmNode(url, { tokens: ["f1", "f2"] }),
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "output" }],
      })
      .node("message::m", {
        params: { template: "M:{{t}}|", streamOutput: true },
        inputs: [{ name: "t", ref: { node: "spark-llm::slow", name: "output" } }],
      })
      .node(END, {
        params: { outputMode: 1, template: "E:{{t}}", streamOutput: true },
        inputs: [{ name: "t", ref: { node: "spark-llm::fast", name: "output" } }],
      })
      .edge(START, "spark-llm::slow")
      .edge(START, "spark-llm::fast")
      .edge("spark-llm::slow", "message::m")
      .edge("message::m", END)
      .edge("spark-llm::fast", END)
      .build();
    const id = await addFlow(dsl);
    await publish(id);
    const open = await run("/workflow/v1/chat/completions", { flow_id: id, parameters: { AGENT_USER_INPUT: "q" } });
    expect(open.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe("M:s1s2|E:f1f2");
    const debug = await run("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      parameters: { AGENT_USER_INPUT: "q" },
    });
    const ids = debug.map((f) => f.workflow_step?.node?.id ?? "");
    expect(ids.lastIndexOf("message::m")).toBeLessThan(ids.indexOf(END));
  });

  it("a provider error ends the run with the node's code, which an open client gets at once (item 12)", async () => {
    const id = await addFlow(startLlmEnd(url, { status: 429 }));
    await publish(id);
    const debug = await run("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      parameters: { AGENT_USER_INPUT: "q" },
    });
    const nodeError = debug.find((f) => f.workflow_step?.node?.id === "spark-llm::l" && f.code !== 0) as Frame;
    expect(nodeError.code).toBe(20380);
    expect(nodeError.workflow_step?.node?.usage).toEqual({ completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 });
    expect(debug.at(-1)).toMatchObject({ code: 20380, workflow_step: { seq: 0, progress: 1 } });
    const open = await run("/workflow/v1/chat/completions", { flow_id: id, parameters: { AGENT_USER_INPUT: "q" } });
    expect(open).toHaveLength(1);
    expect(open[0]?.code).toBe(20380);
  });

  it("runs the real Spark fixture through the run object over an outbound WebSocket, and maps 10013 to 20363 (items 7, 12)", async () => {
    const sparkUrl = inject("sparkUrl");
    const make = (uid: string): unknown => {
      const dsl = loadFixture("example-core-start-llm-end.json") as {
        data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
      };
      const llm = dsl.data.nodes.find((n) => n.id.startsWith("spark-llm")) as {
        data: { nodeParam: Record<string, unknown> };
      };
      Object.assign(llm.data.nodeParam, { url: sparkUrl, apiKey: SPARK_KEY, apiSecret: SPARK_SECRET, uid });
      return dsl;
    };
    const ok = await addFlow(make(`script:${JSON.stringify({ tokens: ["Hel", "lo", "!"] })}`));
    const frames = await run("/workflow/v1/debug/chat/completions", {
      flow_id: ok,
      parameters: { AGENT_USER_INPUT: "hi" },
    });
    const end = frames.filter((f) => f.workflow_step?.node?.id?.startsWith("node-end"));
    expect(end.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe("Hello!");
    const bad = await addFlow(make(`script:${JSON.stringify({ errorCode: 10013 })}`));
    await publish(bad);
    const open = await run("/workflow/v1/chat/completions", { flow_id: bad, parameters: { AGENT_USER_INPUT: "hi" } });
    expect(open).toHaveLength(1);
    expect(open[0]?.code).toBe(20363);
  });

  it("refuses a sub-flow node whose app is unknown with 20000 before any node runs (spec §5.12)", async () => {
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("flow::sub", { params: { flowId: "123", appId: "no-such-app", uid: "u" }, outputs: [{ name: "x" }] })
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "flow::sub")
      .edge("flow::sub", END)
      .build();
    const id = await addFlow(dsl);
    const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ flow_id: id, parameters: { AGENT_USER_INPUT: "q" } }),
    });
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(((await res.json()) as Frame).code).toBe(20000);
  });

  it("cancels the run when the client disconnects mid-stream (spec §6.12 [new])", async () => {
    const id = await addFlow(startLlmEnd(url, { tokens: Array.from({ length: 40 }, (_, i) => `t${i} `), delayMs: 25 }));
    const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ flow_id: id, parameters: { AGENT_USER_INPUT: "q" } }),
    });
    const runId = res.headers.get("x-run-id") ?? "";
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    let status = "";
    for (let i = 0; i < 100 && status !== "cancelled"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (
        (await (await SELF.fetch(`http://astron.test/runs/${runId}`, { headers: APP })).json()) as { status: string }
      ).status;
    }
    expect(status).toBe("cancelled");
  });
});
