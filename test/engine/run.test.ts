import { describe, expect, it } from "vitest";
import { OpenFilter } from "../../src/engine/filter.ts";
import { frameJson } from "../../src/engine/sse.ts";
import { z } from "zod";
import { definePlugin, type Clock, type Plugin } from "../../src/engine/plugin.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { describeFrame, FakeClock, frameNode, runFlow, Scripts, testRegistry } from "../support/engine-harness.ts";
import { loadFixture } from "../support/fixtures.ts";

const LLM = "spark-llm::3a4f6c1e-1b2d-4c5e-9f70-112233445566";
const LLM_END = "node-end::cda617af-551e-462e-b3b8-3bb9a041bf88";
const LLM_START = "node-start::d61b0f71-87ee-475e-93ba-f1607f0ce783";
const USAGE = { completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 };

function helloScripts(): Scripts {
  return new Scripts().set(LLM, { tokens: ["Hel", "lo", "!"], usage: USAGE });
}

function content(f: Frame): string {
  return f.choices[0]?.delta.content ?? "";
}

function openStream(frames: Frame[]): Frame[] {
  const filter = new OpenFilter({ stream: true });
  return frames.flatMap((f) => filter.push(f));
}

function openBody(frames: Frame[]): Frame[] {
  const filter = new OpenFilter({ stream: false });
  return frames.flatMap((f) => filter.push(f));
}

describe("start → llm → end (spec §2.8, §12.3 item 7)", () => {
  it("streams the debug frames in the documented order with the LLM answer relayed token by token", async () => {
    const { frames, outcome } = await runFlow(loadFixture("example-core-start-llm-end.json"), {
      scripts: helloScripts(),
      parameters: { AGENT_USER_INPUT: "hi" },
    });
    expect(outcome.status).toBe("completed");
    const d = frames.map(describeFrame);
    expect(d[0]).toBe("flow:start");
    expect(d.at(-1)).toBe("flow:end");
    expect(d).toContain(`${LLM_START}:start`);
    expect(d).toContain(`${LLM_START}:end`);
    expect(d).toContain(`${LLM}:start`);
    expect(d).toContain(`${LLM}:end`);
    // F5: the end node starts as soon as the LLM started (early launch), before the LLM ends
    const endStart = frames.findIndex((f) => frameNode(f) === LLM_END);
    expect(endStart).toBeGreaterThan(d.indexOf(`${LLM}:start`));
    expect(endStart).toBeLessThan(d.indexOf(`${LLM}:end`));
    // process frames carry answer_mode 1 and the concatenation equals the answer
    const endFrames = frames.filter((f) => frameNode(f) === LLM_END);
    const process = endFrames.slice(1, -1);
    expect(process.map(content)).toEqual(["", "Hel", "lo", "!"]);
    for (const f of process) expect(f.workflow_step?.node?.ext).toEqual({ answer_mode: 1 });
    const last = endFrames.at(-1) as Frame;
    expect(last.workflow_step?.node?.finish_reason).toBe("stop");
    expect(process.map(content).join("") + content(last)).toBe("Hello!");
    expect(last.workflow_step?.node?.outputs).toEqual({ output: "Hello!" });
  });

  it("computes progress 0, 0.33, 0.67 along the single path and totals usage on the final frame", async () => {
    const { frames } = await runFlow(loadFixture("example-core-start-llm-end.json"), {
      scripts: helloScripts(),
      parameters: { AGENT_USER_INPUT: "hi" },
    });
    const first = frames[0] as Frame;
    expect(first.workflow_step?.progress).toBe(0);
    expect(first.workflow_step?.node?.finish_reason).toBe("stop");
    expect(first.choices[0]?.finish_reason).toBeUndefined();
    const progressOf = (id: string): number => frames.find((f) => frameNode(f) === id)?.workflow_step?.progress ?? -1;
    expect(progressOf(LLM_START)).toBe(0);
    expect(progressOf(LLM)).toBeCloseTo(1 / 3, 5);
    expect(progressOf(LLM_END)).toBeCloseTo(2 / 3, 5);
    const llmEnd = frames.find((f) => describeFrame(f) === `${LLM}:end`) as Frame;
    expect(llmEnd.workflow_step?.node?.inputs).toEqual({ input: "hi" });
    expect(llmEnd.workflow_step?.node?.outputs).toEqual({ output: "Hello!" });
    expect(llmEnd.workflow_step?.node?.usage).toEqual(USAGE);
    const final = frames.at(-1) as Frame;
    expect(final.workflow_step?.progress).toBe(1);
    expect(final.choices[0]?.finish_reason).toBe("stop");
    expect(final.usage).toEqual(USAGE);
    for (const f of frames) expect(frameJson(f)).not.toContain("null");
  });

  it("passes the open filter as content frames then the stop frame (§12.3 items 8 and 9)", async () => {
    const { frames } = await runFlow(loadFixture("example-core-start-llm-end.json"), {
      scripts: helloScripts(),
      parameters: { AGENT_USER_INPUT: "hi" },
    });
    const open = openStream(frames);
    expect(open.map(content)).toEqual(["Hel", "lo", "!", ""]);
    expect(open.map((f) => f.workflow_step?.seq)).toEqual([1, 2, 3, 4]);
    for (const f of open) expect(f.workflow_step?.node).toBeUndefined();
    const progress = open.map((f) => f.workflow_step?.progress ?? 0);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1] as number);
    const body = openBody(frames);
    expect(body).toHaveLength(1);
    expect(content(body[0] as Frame)).toBe("Hello!");
    expect((body[0] as Frame).workflow_step).toBeUndefined();
    expect((body[0] as Frame).usage).toEqual(USAGE);
  });
});

describe("branching (spec §6.3, §12.3 item 14)", () => {
  const TJ = "text-joiner::44444444-4444-4444-8444-444444444444";
  const MSG = "message::33333333-3333-4333-8333-333333333333";

  it('score 80 runs the message branch, skips the text-joiner without frames, and answers {"joined":""}', async () => {
    const { frames, outcome } = await runFlow(loadFixture("example-core-if-else-branch.json"), {
      parameters: { AGENT_USER_INPUT: "hello", score: 80 },
    });
    expect(outcome.status).toBe("completed");
    expect(frames.some((f) => frameNode(f) === TJ)).toBe(false);
    const msg = frames.filter((f) => frameNode(f) === MSG);
    expect(msg.map(content).join("")).toBe("PASS: hello");
    const open = openStream(frames);
    expect(open.map(content).join("")).toBe('PASS: hello{"joined":""}');
  });

  it("score 10 runs the text-joiner, skips the message, and answers with the joined text", async () => {
    const { frames, outcome } = await runFlow(loadFixture("example-core-if-else-branch.json"), {
      parameters: { AGENT_USER_INPUT: "hello", score: 10 },
    });
    expect(outcome.status).toBe("completed");
    expect(frames.some((f) => frameNode(f) === MSG)).toBe(false);
    expect(frames.some((f) => frameNode(f) === TJ)).toBe(true);
    const body = openBody(frames);
    expect(content(body[0] as Frame)).toBe('{"joined":"FAIL: hello"}');
  });
});

function diamond(extra?: (b: ReturnType<typeof flow>) => void): ReturnType<typeof flow> {
  const b = flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("noop::a", { outputs: [{ name: "x" }] })
    .node("noop::b", { outputs: [{ name: "x" }] })
    .node("noop::c", { outputs: [{ name: "x" }] })
    .node("noop::d", { outputs: [{ name: "x" }] })
    .node(END, { params: { outputMode: 0 }, inputs: [{ name: "d", ref: { node: "noop::d", name: "x" } }] })
    .edge(START, "noop::a")
    .edge("noop::a", "noop::b")
    .edge("noop::a", "noop::c")
    .edge("noop::b", "noop::d")
    .edge("noop::c", "noop::d")
    .edge("noop::d", END);
  extra?.(b);
  return b;
}

describe("joins (spec §6.3, §12.3 item 16)", () => {
  it("starts D only after both B and C finished, whichever is slower", async () => {
    for (const [slow, fast] of [
      ["noop::b", "noop::c"],
      ["noop::c", "noop::b"],
    ] as const) {
      const scripts = new Scripts().set(slow, { delayMs: 5, outputs: { x: "s" } }).set(fast, { outputs: { x: "f" } });
      const { frames, outcome } = await runFlow(diamond().build(), { scripts });
      expect(outcome.status).toBe("completed");
      const d = frames.map(describeFrame);
      expect(d.indexOf("noop::d:start")).toBeGreaterThan(d.indexOf(`${slow}:end`));
      expect(d.indexOf("noop::d:start")).toBeGreaterThan(d.indexOf(`${fast}:end`));
      expect(d.filter((x) => x === "noop::d:start")).toHaveLength(1);
    }
  });

  it("treats a merge after a branch as an OR-join: the untaken side is ignored", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("branchy::x")
      .node("noop::yes")
      .node("noop::no")
      .node("noop::join")
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "branchy::x")
      .edge("branchy::x", "noop::yes", "intent_chain|branch_one_of::yes")
      .edge("branchy::x", "noop::no", "branch_one_of::no")
      .edge("noop::yes", "noop::join")
      .edge("noop::no", "noop::join")
      .edge("noop::join", END);
    const scripts = new Scripts().set("branchy::x", { branch: "branch_one_of::yes" });
    const { frames, outcome } = await runFlow(b.build(), { scripts });
    expect(outcome.status).toBe("completed");
    const ids = new Set(frames.map(frameNode));
    expect(ids.has("noop::yes")).toBe(true);
    expect(ids.has("noop::no")).toBe(false);
    expect(ids.has("noop::join")).toBe(true);
    expect(scripts.callsOf("noop::no")).toBe(0);
  });

  it("fails with 22301 when a branch returns a handle no edge has", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("branchy::x")
      .node("noop::yes")
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "branchy::x")
      .edge("branchy::x", "noop::yes", "branch_one_of::yes")
      .edge("noop::yes", END);
    const scripts = new Scripts().set("branchy::x", { branch: "branch_one_of::nope" });
    const { frames, outcome } = await runFlow(b.build(), { scripts });
    expect(outcome).toMatchObject({ status: "failed", error: { code: 22301 } });
    expect((frames.at(-1) as Frame).code).toBe(22301);
  });

  it("fails with 22301 when the branch skips the end node", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("branchy::x")
      .node("noop::yes")
      .node("noop::no")
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "branchy::x")
      .edge("branchy::x", "noop::yes", "branch_one_of::yes")
      .edge("branchy::x", "noop::no", "branch_one_of::no")
      .edge("noop::yes", END);
    const scripts = new Scripts().set("branchy::x", { branch: "branch_one_of::no" });
    const { outcome } = await runFlow(b.build(), { scripts });
    expect(outcome).toMatchObject({ status: "failed", error: { code: 22301 } });
  });
});

describe("output nodes (spec §6.6, §2.5, §12.3 item 11)", () => {
  it("emits the message before the end answer even when the end node's source finishes first", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("spark-llm::slow", { outputs: [{ name: "output" }] })
      .node("spark-llm::fast", { outputs: [{ name: "output" }] })
      .node("message::m", {
        params: { template: "M:{{t}}", streamOutput: true },
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
      .edge("spark-llm::fast", END);
    const scripts = new Scripts()
      .set("spark-llm::slow", { tokens: ["s1", "s2"], delayMs: 5 })
      .set("spark-llm::fast", { tokens: ["f1", "f2"] });
    const { frames, outcome } = await runFlow(b.build(), { scripts });
    expect(outcome.status).toBe("completed");
    const answer = openStream(frames).map(content).join("");
    expect(answer).toBe("M:s1s2E:f1f2");
    // debug: every message frame precedes every end-node frame
    const lastMsg = frames.map(frameNode).lastIndexOf("message::m");
    const firstEnd = frames.map(frameNode).indexOf(END);
    expect(lastMsg).toBeLessThan(firstEnd);
    // non-stream open body concatenates in graph order
    expect(content(openBody(frames)[0] as Frame)).toBe("M:s1s2E:f1f2");
  });

  it("replays a stream source for a second placeholder and renders non-stream sources from the pool", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("spark-llm::l", { outputs: [{ name: "output" }] })
      .node(END, {
        params: { outputMode: 1, template: "{{a}}|{{a}}|{{q}}", streamOutput: false },
        inputs: [
          { name: "a", ref: { node: "spark-llm::l", name: "output" } },
          { name: "q", ref: { node: START, name: "AGENT_USER_INPUT" } },
        ],
      })
      .edge(START, "spark-llm::l")
      .edge("spark-llm::l", END);
    const scripts = new Scripts().set("spark-llm::l", { tokens: ["x", "y"] });
    const { frames } = await runFlow(b.build(), { scripts, parameters: { AGENT_USER_INPUT: "hi" } });
    const endFrames = frames.filter((f) => frameNode(f) === END);
    // without streamOutput nothing is streamed: start frame and end frame only
    expect(endFrames).toHaveLength(2);
    expect(content(endFrames[1] as Frame)).toBe("xy|xy|hi");
  });

  it("relays reasoning into reasoning_content through a reasoning template", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("agent::a", { outputs: [{ name: "output" }, { name: "REASONING_CONTENT" }] })
      .node(END, {
        params: { outputMode: 1, template: "{{out}}", reasoningTemplate: "{{why}}", streamOutput: false },
        inputs: [
          { name: "out", ref: { node: "agent::a", name: "output" } },
          { name: "why", ref: { node: "agent::a", name: "REASONING_CONTENT" } },
        ],
      })
      .edge(START, "agent::a")
      .edge("agent::a", END);
    const scripts = new Scripts().set("agent::a", {
      reasoning: ["think"],
      tokens: ["ans"],
      outputs: { output: "ans", REASONING_CONTENT: "think" },
    });
    const { frames } = await runFlow(b.build(), { scripts });
    const last = frames.filter((f) => frameNode(f) === END).at(-1) as Frame;
    expect(last.choices[0]?.delta).toMatchObject({ content: "ans", reasoning_content: "think" });
  });

  it("keeps a message on an untaken branch silent even though it was launched early", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("branchy::x")
      .node("message::m", {
        params: { template: "never {{q}}", streamOutput: true },
        inputs: [{ name: "q", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      })
      .node("noop::other")
      .node(END, { params: { outputMode: 1, template: "done", streamOutput: true } })
      .edge(START, "branchy::x")
      .edge("branchy::x", "message::m", "branch_one_of::a")
      .edge("branchy::x", "noop::other", "branch_one_of::b")
      .edge("message::m", END)
      .edge("noop::other", END);
    const scripts = new Scripts().set("branchy::x", { branch: "branch_one_of::b" });
    const { frames, outcome } = await runFlow(b.build(), { scripts, parameters: { AGENT_USER_INPUT: "q" } });
    expect(outcome.status).toBe("completed");
    expect(frames.some((f) => frameNode(f) === "message::m")).toBe(false);
    expect(openStream(frames).map(content).join("")).toBe("done");
  });
});

describe("errors, retries and strategies (spec §6.7, §12.3 items 12, 17–19)", () => {
  function codeFlow(
    retry: Record<string, string | number | boolean | Record<string, string>>,
  ): ReturnType<typeof flow> {
    return flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("ifly-code::c", { outputs: [{ name: "output" }], retry })
      .node("noop::ok")
      .node("noop::failed", {
        inputs: [{ name: "code", type: "integer", ref: { node: "ifly-code::c", name: "errorCode" } }],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [
          { name: "out", ref: { node: "ifly-code::c", name: "output" } },
          { name: "err", type: "integer", ref: { node: "ifly-code::c", name: "errorCode" } },
        ],
      })
      .edge(START, "ifly-code::c")
      .edge("ifly-code::c", "noop::ok")
      .edge("ifly-code::c", "noop::failed", "intent_chain|fail_one_of::f1")
      .edge("noop::ok", END)
      .edge("noop::failed", END);
  }

  it("custom output after maxRetries + 1 attempts, with the error readable as error_outputs (item 17)", async () => {
    const scripts = new Scripts().set("ifly-code::c", { error: { code: 21600, message: "boom" } });
    const dsl = codeFlow({ shouldRetry: true, maxRetries: 2, errorStrategy: 1, customOutput: { output: "x" } }).build();
    const { frames, outcome } = await runFlow(dsl, { scripts });
    expect(outcome.status).toBe("completed");
    expect(scripts.callsOf("ifly-code::c")).toBe(3);
    const end = frames.find((f) => describeFrame(f) === "ifly-code::c:end") as Frame;
    expect(end.workflow_step?.node?.outputs).toEqual({ output: "x" });
    expect(end.workflow_step?.node?.error_outputs).toMatchObject({ errorCode: 21600 });
    expect(frames.filter((f) => describeFrame(f) === "ifly-code::c:start")).toHaveLength(1);
    expect(scripts.callsOf("noop::ok")).toBe(1);
    expect(scripts.callsOf("noop::failed")).toBe(0);
    const answer = JSON.parse(content(openBody(frames)[0] as Frame)) as Record<string, unknown>;
    expect(answer).toEqual({ out: "x", err: 21600 });
  });

  it("takes only the fail branch with strategy 2, outputs keep defaults (item 18, snake_case spelling)", async () => {
    const scripts = new Scripts().set("ifly-code::c", { error: { code: 21600, message: "boom" } });
    const dsl = codeFlow({ should_retry: true, max_retries: 0, error_strategy: 2 }).build();
    const { frames, outcome } = await runFlow(dsl, { scripts });
    expect(outcome.status).toBe("completed");
    expect(scripts.callsOf("noop::ok")).toBe(0);
    expect(scripts.callsOf("noop::failed")).toBe(1);
    const failedEnd = frames.find((f) => describeFrame(f) === "noop::failed:end") as Frame;
    expect(failedEnd.workflow_step?.node?.inputs).toEqual({ code: 21600 });
    const answer = JSON.parse(content(openBody(frames)[0] as Frame)) as Record<string, unknown>;
    expect(answer).toEqual({ out: "", err: 21600 });
  });

  it("a retry that succeeds continues normally and marks no error", async () => {
    const scripts = new Scripts().set("ifly-code::c", {
      error: { code: 21600 },
      failAttempts: 1,
      outputs: { output: "ok" },
    });
    const { frames, outcome } = await runFlow(
      codeFlow({ shouldRetry: true, maxRetries: 1, errorStrategy: 0 }).build(),
      { scripts },
    );
    expect(outcome.status).toBe("completed");
    expect(scripts.callsOf("ifly-code::c")).toBe(2);
    const end = frames.find((f) => describeFrame(f) === "ifly-code::c:end") as Frame;
    expect(end.workflow_step?.node?.error_outputs).toEqual({});
  });

  it("strategy 0 aborts the run: node error frame, then the workflow error end with the node's code", async () => {
    const scripts = new Scripts().set("ifly-code::c", { error: { code: 21600, message: "boom" } });
    const { frames, outcome } = await runFlow(
      codeFlow({ shouldRetry: true, maxRetries: 0, errorStrategy: 0 }).build(),
      { scripts },
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 21600 } });
    const d = frames.map(describeFrame);
    expect(d.at(-2)).toBe("ifly-code::c:error:21600");
    expect(d.at(-1)).toBe("error:21600");
    expect(scripts.callsOf("noop::ok")).toBe(0);
    // [new] §2.7: the open client receives the real code at once, not 20804
    const open = openStream(frames);
    expect(open.at(-1)?.code).toBe(21600);
    expect(openBody(frames)[0]?.code).toBe(21600);
  });

  it("without shouldRetry the camelCase strategy is inert and the first failure aborts", async () => {
    const scripts = new Scripts().set("ifly-code::c", { error: { code: 21600 } });
    const { outcome } = await runFlow(
      codeFlow({ shouldRetry: false, maxRetries: 3, errorStrategy: 1, customOutput: { output: "x" } }).build(),
      { scripts },
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 21600 } });
    expect(scripts.callsOf("ifly-code::c")).toBe(1);
  });

  it("an LLM failing before any token with strategy 1 continues with the custom output (error marker)", async () => {
    const scripts = new Scripts().set(LLM, {
      tokens: ["a"],
      failAfter: 0,
      error: { code: 20363, message: "spark 10013" },
    });
    const dsl = structuredClone(loadFixture("example-core-start-llm-end.json")) as {
      data: { nodes: { id: string; data: Record<string, unknown> }[] };
    };
    const llm = dsl.data.nodes.find((n) => n.id === LLM) as { data: Record<string, unknown> };
    llm.data.retryConfig = { shouldRetry: true, maxRetries: 0, errorStrategy: 1, customOutput: { output: "fallback" } };
    const { frames, outcome } = await runFlow(dsl, { scripts, parameters: { AGENT_USER_INPUT: "hi" } });
    expect(outcome.status).toBe("completed");
    expect(openBody(frames)[0]?.choices[0]?.delta.content).toBe("fallback");
  });

  it("an LLM failing after its first token aborts the run whatever the strategy (item 19)", async () => {
    const scripts = new Scripts().set(LLM, {
      tokens: ["a", "b", "c"],
      failAfter: 1,
      error: { code: 20363, message: "spark 10013" },
    });
    const dsl = structuredClone(loadFixture("example-core-start-llm-end.json")) as {
      data: { nodes: { id: string; data: Record<string, unknown> }[] };
    };
    const llm = dsl.data.nodes.find((n) => n.id === LLM) as { data: Record<string, unknown> };
    llm.data.retryConfig = { shouldRetry: true, maxRetries: 2, errorStrategy: 1, customOutput: { output: "fallback" } };
    const { frames, outcome } = await runFlow(dsl, { scripts, parameters: { AGENT_USER_INPUT: "hi" } });
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20363 } });
    expect(scripts.callsOf(LLM)).toBe(1);
    const d = frames.map(describeFrame);
    expect(d).toContain(`${LLM}:error:20363`);
    expect(d.at(-1)).toBe("error:20363");
    // the node error frame of an LLM carries zero usage (§2.3)
    const err = frames.find((f) => describeFrame(f) === `${LLM}:error:20363`) as Frame;
    expect(err.workflow_step?.node?.usage).toEqual({ completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 });
  });

  it("arms a node timeout only for nodes that answer asynchronously (a timer cannot stop synchronous code)", async () => {
    const sleeps: number[] = [];
    const counting = (clock: FakeClock): Clock => ({
      now: () => clock.now(),
      sleep: (ms, signal) => (sleeps.push(ms), clock.sleep(ms, signal)),
    });
    // a retryable node (timeout 1 s) whose answer is synchronous
    const instant = definePlugin({
      type: "instant",
      params: z.object({}),
      retryable: true,
      run: () => ({ outputs: { output: "now" } }),
    });
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("instant::i", { outputs: [{ name: "output" }], retry: { timeout: 1, shouldRetry: true, maxRetries: 1 } })
      .node(END, { params: { outputMode: 0 }, inputs: [{ name: "out", ref: { node: "instant::i", name: "output" } }] })
      .edge(START, "instant::i")
      .edge("instant::i", END)
      .build();
    const { outcome: first } = await runFlow(dsl, {
      registry: testRegistry(new Scripts(), [instant as unknown as Plugin<never>]),
      clock: counting(new FakeClock()),
    });
    expect(first).toMatchObject({ status: "completed", outputs: { out: "now" } });
    expect(sleeps).toEqual([]);
    const scripts = new Scripts().set("ifly-code::c", { delayMs: 10, outputs: { output: "ok" } });
    const clock = new FakeClock();
    const pending = runFlow(codeFlow({ timeout: 1, shouldRetry: true, maxRetries: 1 }).build(), {
      scripts,
      clock: counting(clock),
    });
    await clock.advance(10);
    expect((await pending).outcome.status).toBe("completed");
    // the node's own 10 ms of work, and its 1 s timeout
    expect(sleeps.sort((a, b) => a - b)).toEqual([10, 1_000]);
  });

  it("a non-stream attempt that exceeds retryConfig.timeout fails with 22302 and is retried", async () => {
    const clock = new FakeClock();
    const scripts = new Scripts().set("ifly-code::c", { delayMs: 5_000, outputs: { output: "late" } });
    const dsl = codeFlow({
      timeout: 1,
      shouldRetry: true,
      maxRetries: 1,
      errorStrategy: 1,
      customOutput: { output: "t" },
    }).build();
    const pending = runFlow(dsl, { scripts, clock });
    await clock.advance(1_000);
    await clock.advance(1_000);
    const { frames, outcome } = await pending;
    expect(outcome.status).toBe("completed");
    expect(scripts.callsOf("ifly-code::c")).toBe(2);
    const end = frames.find((f) => describeFrame(f) === "ifly-code::c:end") as Frame;
    expect(end.workflow_step?.node?.error_outputs).toEqual({
      errorCode: 22302,
      errorMessage: "Node execution failed(Node execution timeout)",
    });
    expect(end.workflow_step?.node?.outputs).toEqual({ output: "t" });
  });

  it("nothing is emitted after the final frame when a parallel branch is still running at the failure", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("noop::boom")
      .node("spark-llm::slow", { outputs: [{ name: "output" }] })
      .node(END, {
        params: { outputMode: 1, template: "{{o}}", streamOutput: true },
        inputs: [{ name: "o", ref: { node: "spark-llm::slow", name: "output" } }],
      })
      .edge(START, "noop::boom")
      .edge(START, "spark-llm::slow")
      .edge("noop::boom", END)
      .edge("spark-llm::slow", END);
    const scripts = new Scripts()
      .set("noop::boom", { delayMs: 2, error: { code: 22302, message: "x" } })
      .set("spark-llm::slow", { tokens: ["a", "b", "c", "d"], delayMs: 3 });
    const { frames, outcome } = await runFlow(b.build(), { scripts });
    expect(outcome.status).toBe("failed");
    await new Promise((r) => setTimeout(r, 30));
    expect(describeFrame(frames.at(-1) as Frame)).toBe("error:22302");
    expect(frames.filter((f) => !f.workflow_step?.node)).toHaveLength(1);
  });
});

describe("outputs validated against their declared schemas (spec §5.1, §6.5)", () => {
  it("fails the node with 20601 when its outputs do not match, and a retry with a strategy handles it", async () => {
    const b = (retry?: Record<string, string | number | boolean>): ReturnType<typeof flow> =>
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("ifly-code::c", {
          outputs: [{ name: "n", type: "integer", required: true }],
          ...(retry ? { retry } : {}),
        })
        .node(END, {
          params: { outputMode: 0 },
          inputs: [{ name: "n", type: "integer", ref: { node: "ifly-code::c", name: "n" } }],
        })
        .edge(START, "ifly-code::c")
        .edge("ifly-code::c", END);
    const scripts = new Scripts().set("ifly-code::c", { outputs: { n: "not an integer" } });
    const { outcome } = await runFlow(b().build(), { scripts });
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20601 } });
    const again = new Scripts().set("ifly-code::c", { outputs: { n: "still not" } });
    const handled = await runFlow(b({ shouldRetry: true, maxRetries: 1, errorStrategy: 1 }).build(), {
      scripts: again,
    });
    expect(handled.outcome).toMatchObject({ status: "completed", outputs: { n: 0 } });
    expect(again.callsOf("ifly-code::c")).toBe(2);
  });
});

describe("cancellation (spec §6.12)", () => {
  it("a cancelled run stops its nodes and emits nothing more", async () => {
    const controller = new AbortController();
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("spark-llm::l", { outputs: [{ name: "output" }] })
      .node(END, {
        params: { outputMode: 1, template: "{{o}}", streamOutput: true },
        inputs: [{ name: "o", ref: { node: "spark-llm::l", name: "output" } }],
      })
      .edge(START, "spark-llm::l")
      .edge("spark-llm::l", END);
    const scripts = new Scripts().set("spark-llm::l", { tokens: ["a", "b", "c", "d", "e"], delayMs: 5 });
    const pending = runFlow(b.build(), { scripts, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 8));
    controller.abort();
    const { frames, outcome } = await pending;
    expect(outcome.status).toBe("cancelled");
    const count = frames.length;
    await new Promise((r) => setTimeout(r, 40));
    expect(frames.length).toBe(count);
    expect(frames.some((f) => f.choices[0]?.finish_reason === "stop" && frameNode(f) === "flow_obj")).toBe(false);
  });
});
