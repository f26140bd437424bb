// Operator caps on the durations and counts a flow's author sets (issue 13, src/engine/limits.ts): a value over its
// cap is clamped, so the flow still runs, only shorter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import { registry } from "../../src/plugins/index.ts";
import { runFlow } from "../support/engine-harness.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { startLlmEnd } from "../support/llm-flow.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

const opts = (config: Record<string, string>) => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  parameters: { AGENT_USER_INPUT: "hi" },
  config,
});
const fallback = { errorStrategy: 1, customOutput: { output: "gave up" } };

describe("caps on author-set timeouts and retries (issue 13)", () => {
  it("clamps retryConfig.timeout to NODE_TIMEOUT_MAX_MS (here the per-read timeout of a provider)", async () => {
    // the node asks for 60 s per read; the provider's first byte comes after 3 s; the cap is 200 ms
    const dsl = startLlmEnd(
      fake.url,
      { tokens: ["late"], firstByteDelayMs: 3_000 },
      { timeout: 60, shouldRetry: true, maxRetries: 0, ...fallback },
    );
    const { outcome } = await runFlow(dsl, opts({ NODE_TIMEOUT_MAX_MS: "200" }));
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "gave up" } });
  });

  it("clamps maxRetries to NODE_MAX_RETRIES", async () => {
    const dsl = startLlmEnd(fake.url, { status: 500 }, { shouldRetry: true, maxRetries: 10, ...fallback });
    const before = fake.requests().length;
    const { outcome } = await runFlow(dsl, opts({ NODE_MAX_RETRIES: "2" }));
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "gave up" } });
    expect(fake.requests().length - before).toBe(3);
  });

  it("gives a node only as many attempts as its timeout fits in NODE_RETRY_BUDGET_MS (retries × timeout)", async () => {
    // 30 s per attempt, 10 retries asked, 100 s budget: 3 attempts
    const dsl = startLlmEnd(fake.url, { status: 500 }, { timeout: 30, shouldRetry: true, maxRetries: 10, ...fallback });
    const before = fake.requests().length;
    const { outcome } = await runFlow(dsl, opts({ NODE_MAX_RETRIES: "10", NODE_RETRY_BUDGET_MS: "100000" }));
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "gave up" } });
    expect(fake.requests().length - before).toBe(3);
  });

  it("keeps at least one attempt, and the defaults (5 retries) when the config says nothing usable", async () => {
    const one = startLlmEnd(fake.url, { status: 500 }, { timeout: 60, shouldRetry: true, maxRetries: 3, ...fallback });
    let before = fake.requests().length;
    await runFlow(one, opts({ NODE_RETRY_BUDGET_MS: "1" }));
    expect(fake.requests().length - before).toBe(1);
    const many = startLlmEnd(fake.url, { status: 500 }, { timeout: 1, shouldRetry: true, maxRetries: 10, ...fallback });
    before = fake.requests().length;
    await runFlow(many, opts({ NODE_MAX_RETRIES: "lots" }));
    expect(fake.requests().length - before).toBe(6);
  });
});
