// Retries and error strategies on each retry-capable model/agent plugin (spec §6.7): a provider failure before any
// output is retried `maxRetries` times, then strategy 1 gives the custom output with the error in error_outputs,
// and strategy 0 aborts with the plugin's code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type Json } from "../support/dsl-builder.ts";
import { describeFrame, runFlow } from "../support/engine-harness.ts";
import { startFakeAgent } from "../support/fake-agent.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { llmNode } from "../support/llm-flow.ts";

let llm: FakeOpenAI;
let agent: Awaited<ReturnType<typeof startFakeAgent>>;
beforeAll(async () => {
  llm = await startFakeOpenAI();
  agent = await startFakeAgent();
});
afterAll(async () => {
  await llm.close();
  await agent.close();
});

function single(
  type: string,
  params: Record<string, Json>,
  outputs: { name: string; type?: string; required?: boolean }[],
  retry: Record<string, Json>,
): unknown {
  const id = `${type}::n`;
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(id, { params, inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }], outputs, retry })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [{ name: "out", ref: { node: id, name: outputs[0]?.name ?? "output" } }],
    })
    .edge(START, id)
    .edge(id, END)
    .build();
}

const opts = () => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  // the sub-flow service is pointed at a server that does not speak the workflow API, so every call fails
  config: {
    AGENT_API_URL: agent.url,
    WORKFLOW_URL_SSE: `${llm.url}/workflow/v1/chat/completions`,
    SUBFLOW_APP: "app1",
  },
  parameters: { AGENT_USER_INPUT: "q" },
});

const cases: {
  type: string;
  code: number;
  params: () => Record<string, Json>;
  outputs: { name: string; type?: string; required?: boolean }[];
  calls: () => number;
}[] = [
  {
    type: "spark-llm",
    code: 20380,
    params: () => llmNode(llm.url, { status: 500 }),
    outputs: [{ name: "output" }],
    calls: () => llm.requests().length,
  },
  {
    type: "extractor-parameter",
    code: 21900,
    params: () => llmNode(llm.url, { status: 500 }),
    outputs: [{ name: "city", required: true }],
    calls: () => llm.requests().length,
  },
  {
    type: "agent",
    code: 23700,
    params: () => ({
      modelConfig: { domain: "m", api: "https://x/v1/chat/completions", agentStrategy: 1 },
      instruction: { reasoning: "", answer: `script:${JSON.stringify({ errorCode: 40002 })}`, query: "{{input}}" },
      plugin: { tools: [], mcpServerIds: [], mcpServerUrls: [], workflowIds: [], knowledge: [] },
      maxLoopCount: 3,
    }),
    outputs: [{ name: "output" }],
    calls: () => agent.requests().length,
  },
  {
    type: "flow",
    code: 22801,
    params: () => ({ flowId: "42", appId: "app1", uid: "u" }),
    outputs: [{ name: "output" }],
    calls: () => llm.requests().length,
  },
];

describe("retries and strategies per plugin", () => {
  for (const c of cases) {
    it(`${c.type}: maxRetries + 1 attempts, then the custom output with the error (strategy 1)`, async () => {
      const before = c.calls();
      const custom: Record<string, Json> = { [c.outputs[0]?.name ?? "output"]: "fallback" };
      const { frames, outcome } = await runFlow(
        single(c.type, c.params(), c.outputs, {
          shouldRetry: true,
          maxRetries: 2,
          errorStrategy: 1,
          customOutput: custom,
        }),
        opts(),
      );
      expect(outcome).toMatchObject({ status: "completed", outputs: { out: "fallback" } });
      expect(c.calls() - before).toBe(3);
      const end = frames.find((f) => describeFrame(f) === `${c.type}::n:end`) as Frame;
      expect(end.workflow_step?.node?.error_outputs).toMatchObject({ errorCode: c.code });
    });

    it(`${c.type}: strategy 0 aborts with ${c.code}`, async () => {
      const { outcome } = await runFlow(
        single(c.type, c.params(), c.outputs, { shouldRetry: true, maxRetries: 0, errorStrategy: 0 }),
        opts(),
      );
      expect(outcome).toMatchObject({ status: "failed", error: { code: c.code } });
    });
  }
});
