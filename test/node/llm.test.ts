// The LLM node (spec §5.3, OpenAI-compatible protocol §5.3.2) through the real engine against a fake
// OpenAI-compatible server on loopback: streaming, usage, request shape, errors and their codes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { estimate, mapOutputs, matchPattern, trimHistory } from "../../src/plugins/spark-llm.ts";
import { describeFrame, frameNode, runFlow } from "../support/engine-harness.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { startLlmEnd } from "../support/llm-flow.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

const opts = () => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  parameters: { AGENT_USER_INPUT: "hi" },
});
const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

describe("LLM node on the OpenAI-compatible protocol", () => {
  it("streams the provider's tokens into the end node and reports usage (spec §2.8)", async () => {
    const { frames, outcome } = await runFlow(
      startLlmEnd(fake.url, { tokens: ["Hel", "lo", "!"], usage: USAGE }),
      opts(),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "Hello!" } });
    const end = frames.filter((f) => frameNode(f) === "node-end::e");
    expect(end.slice(1, -1).map((f) => f.choices[0]?.delta.content)).toEqual(["", "Hel", "lo", "!"]);
    const llmEnd = frames.find((f) => describeFrame(f) === "spark-llm::l:end") as Frame;
    expect(llmEnd.workflow_step?.node).toMatchObject({
      inputs: { input: "hi" },
      outputs: { output: "Hello!" },
      ext: { raw_output: "Hello!" },
    });
    expect(llmEnd.workflow_step?.node?.usage).toEqual({ completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 });
    expect((frames.at(-1) as Frame).usage).toEqual({ completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 });
  });

  it("[new] sends temperature and max_tokens, the rendered prompts, the model and the key", async () => {
    await runFlow(startLlmEnd(fake.url, { tokens: ["x"] }), opts());
    const req = fake.requests().at(-1) as Record<string, unknown>;
    expect(req).toMatchObject({
      model: "fake-model",
      stream: true,
      temperature: 0.5,
      max_tokens: 100,
      messages: [
        { role: "system", content: "You are helpful." },
        { role: "user", content: "hi" },
      ],
      authorization: "Bearer sk-test",
      path: "/v1/chat/completions",
    });
  });

  it("maps an HTTP error to 20380, and a stop other than 'stop' too", async () => {
    const http = await runFlow(startLlmEnd(fake.url, { status: 500 }), opts());
    expect(http.outcome).toMatchObject({ status: "failed", error: { code: 20380 } });
    const length = await runFlow(startLlmEnd(fake.url, { tokens: ["a"], finishReason: "length" }), opts());
    expect(length.outcome).toMatchObject({ status: "failed", error: { code: 20380 } });
  });

  it("aborts the run when the stream breaks after the first token, whatever the strategy (spec §6.7)", async () => {
    const dsl = startLlmEnd(
      fake.url,
      { tokens: ["a", "b", "c"], disconnectAfter: 1 },
      { shouldRetry: true, maxRetries: 2, errorStrategy: 1, customOutput: { output: "x" } },
    );
    const before = fake.requests().length;
    const { frames, outcome } = await runFlow(dsl, opts());
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20380 } });
    expect(fake.requests().length - before).toBe(1);
    const seen = frames.map(describeFrame);
    expect(seen).toContain("spark-llm::l:error:20380");
    // issue 14: the token sent before the break is shown, before the error (the end node held it back as its last)
    expect(seen.indexOf("node-end::e:process:a")).toBeGreaterThan(-1);
    expect(seen.indexOf("node-end::e:process:a")).toBeLessThan(seen.indexOf("spark-llm::l:error:20380"));
  });

  it("retries a failure before the first token and then succeeds with the custom output", async () => {
    const dsl = startLlmEnd(
      fake.url,
      { status: 503 },
      { shouldRetry: true, maxRetries: 1, errorStrategy: 1, customOutput: { output: "fallback" } },
    );
    const before = fake.requests().length;
    const { outcome } = await runFlow(dsl, opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "fallback" } });
    expect(fake.requests().length - before).toBe(2);
  });

  it("refuses the provider's URL when it is private and private targets are not allowed", async () => {
    const { outcome } = await runFlow(startLlmEnd(fake.url, { tokens: ["a"] }), {
      ...opts(),
      fetch: createGuardedFetch(fetch, { errorCode: 20380 }),
    });
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20380 } });
  });
});

describe("LLM output mapping (spec §5.3 step 5)", () => {
  const outs = [
    { name: "output", required: false, schema: { type: "string" } },
    { name: "REASONING_CONTENT", required: false, schema: { type: "string" } },
  ];
  it("maps text, reasoning and JSON answers", () => {
    expect(mapOutputs("ans", "", outs, { respFormat: 0, re_match_pattern: "```(json)?(.*)```" })).toEqual({
      output: "ans",
    });
    expect(mapOutputs("ans", "why", outs, { respFormat: 0, re_match_pattern: "```(json)?(.*)```" })).toEqual({
      output: "ans",
      REASONING_CONTENT: "why",
    });
    const json = [
      { name: "city", required: false, schema: { type: "string" } },
      { name: "n", required: false, schema: { type: "integer" } },
    ];
    expect(
      mapOutputs('```json\n{"city":"Hefei","n":0}\n```', "", json, {
        respFormat: 2,
        re_match_pattern: "```(json)?(.*)```",
      }),
    ).toEqual({ city: "Hefei" });
    expect(mapOutputs("not json", "", json, { respFormat: 2, re_match_pattern: "```(json)?(.*)```" })).toEqual({});
  });
});

describe("respFormat 2: the author's pattern runs on a linear-time engine (issue 13)", () => {
  const json = [{ name: "city", required: false, schema: { type: "string" } }];
  // 31 tokens: a backtracking engine tries about 2^31 ways to split them before it reports no match
  const tokens = Array.from({ length: 31 }, (_, i) => `t${i} `).join("");

  it("answers the catastrophic ((t\\d+ )+)+X on a 31-token answer: no match, whole text, not JSON", () => {
    expect(matchPattern("((t\\d+ )+)+X", tokens)).toBeNull();
    expect(matchPattern("((t\\d+ )+)+X", `${tokens}X`)?.slice(1)).toEqual([tokens, "t30 "]);
    expect(mapOutputs(tokens, "", json, { respFormat: 2, re_match_pattern: "((t\\d+ )+)+X" })).toEqual({});
  });

  it("takes group 2 (DOTALL), reads Python's (?P<name>…) groups, and uses the whole text for a pattern RE2 cannot run or one over the cap", () => {
    const fenced = 'Here:\n```json\n{"city":"Hefei"}\n```';
    expect(mapOutputs(fenced, "", json, { respFormat: 2, re_match_pattern: "```(json)?(.*)```" })).toEqual({
      city: "Hefei",
    });
    expect(
      mapOutputs(fenced, "", json, { respFormat: 2, re_match_pattern: "```(?P<lang>json)?(?P<body>.*)```" }),
    ).toEqual({ city: "Hefei" });
    const bare = '{"city":"Hefei"}';
    expect(mapOutputs(bare, "", json, { respFormat: 2, re_match_pattern: "(a)(?=b)" })).toEqual({ city: "Hefei" });
    expect(mapOutputs(bare, "", json, { respFormat: 2, re_match_pattern: "(\\{)(.*)\\1" })).toEqual({ city: "Hefei" });
    // over the cap the pattern (which would take group 2 = `"city":"Hefei"`, not JSON) is not applied
    expect(mapOutputs(bare, "", json, { respFormat: 2, re_match_pattern: "(\\{)(.*)\\}" }, 5)).toEqual({
      city: "Hefei",
    });
    expect(mapOutputs(bare, "", json, { respFormat: 2, re_match_pattern: "(\\{)(.*)\\}" })).toEqual({});
  });

  it("a flow whose LLM answers 31 tokens under that pattern completes (the node keeps its output's default)", async () => {
    const dsl = startLlmEnd(fake.url, { tokens: tokens.split(/(?<= )/) });
    const node = (dsl.data.nodes as { id: string; data: { nodeParam: Record<string, unknown> } }[]).find(
      (n) => n.id === "spark-llm::l",
    );
    Object.assign(node?.data.nodeParam ?? {}, { respFormat: 2, re_match_pattern: "((t\\d+ )+)+X" });
    const { outcome } = await runFlow(dsl, opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "" } });
  });
});

describe("slow providers (spec §6.11)", () => {
  it("gives up on a provider that sends nothing within the per-read timeout when retries are on, and retries", async () => {
    const dsl = startLlmEnd(
      fake.url,
      { tokens: ["late"], firstByteDelayMs: 1_500 },
      { timeout: 0.3, shouldRetry: true, maxRetries: 1, errorStrategy: 1, customOutput: { output: "gave up" } },
    );
    const before = fake.requests().length;
    const t = Date.now();
    const { outcome } = await runFlow(dsl, opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "gave up" } });
    expect(fake.requests().length - before).toBe(2);
    expect(Date.now() - t).toBeLessThan(1_500);
  });

  it("waits for a slow first byte when retries are off (no read timeout)", async () => {
    const { outcome } = await runFlow(startLlmEnd(fake.url, { tokens: ["late"], firstByteDelayMs: 400 }), opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "late" } });
  });
});

describe("chat history v2 (spec §9.1)", () => {
  it("keeps the last rounds, then drops the oldest items beyond 95 % of the token budget", () => {
    const history = [
      { role: "user" as const, content: "q1" },
      { role: "assistant" as const, content: "a1" },
      { role: "user" as const, content: "img", content_type: "image" as const },
      { role: "user" as const, content: "q2" },
      { role: "assistant" as const, content: "a2" },
    ];
    expect(trimHistory(history, 1)).toEqual([
      { role: "user", content: "q2" },
      { role: "assistant", content: "a2" },
    ]);
    expect(trimHistory(history, 5).map((m) => m.content)).toEqual(["q1", "a1", "q2", "a2"]);
    const small = estimate([{ role: "assistant", content: "a2" }]) / 0.95;
    expect(trimHistory(history, 5, small).map((m) => m.content)).toEqual(["a2"]);
  });

  it("sends the trimmed history between the system prompt and the user prompt", async () => {
    const dsl = startLlmEnd(fake.url, { tokens: ["x"] }) as unknown as {
      data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
    };
    const param = (dsl.data.nodes[1] as { data: { nodeParam: Record<string, unknown> } }).data.nodeParam;
    param.enableChatHistoryV2 = { isEnabled: true, rounds: 1 };
    param.maxTokens = 2048;
    const info = {
      sid: "s",
      eventId: "e",
      flowId: "f",
      appId: "a",
      uid: "u",
      chatId: "c",
      isRelease: false,
      history: [
        { role: "user" as const, content: "old q" },
        { role: "assistant" as const, content: "old a" },
        { role: "user" as const, content: "prev q" },
        { role: "assistant" as const, content: "prev a" },
      ],
    };
    await runFlow(dsl, { ...opts(), info });
    const sent = fake.requests().at(-1) as { messages: { role: string; content: string }[] };
    expect(sent.messages.map((m) => m.content)).toEqual(["You are helpful.", "prev q", "prev a", "hi"]);
  });
});
