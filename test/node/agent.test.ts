// Agent node (spec §5.15, §12.3 item 34) against a fake agent service on loopback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { frameNode, runFlow } from "../support/engine-harness.ts";
import { startFakeAgent, type AgentScript } from "../support/fake-agent.ts";

let agent: Awaited<ReturnType<typeof startFakeAgent>>;
beforeAll(async () => {
  agent = await startFakeAgent();
});
afterAll(async () => {
  await agent.close();
});

function agentFlow(script: AgentScript): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("agent::a", {
      params: {
        appId: "d1590f30",
        apiKey: "k",
        apiSecret: "s",
        source: "openai",
        modelConfig: { domain: "m", api: "https://llm.example/v1/chat/completions", agentStrategy: 1 },
        instruction: { reasoning: "think about {{q}}", answer: `script:${JSON.stringify(script)}`, query: "{{q}}" },
        plugin: { tools: ["tool@1"], mcpServerIds: [], mcpServerUrls: [], workflowIds: [], knowledge: [] },
        maxLoopCount: 5,
      },
      inputs: [{ name: "q", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "REASONING_CONTENT" }, { name: "output" }],
    })
    .node(END, {
      params: { outputMode: 1, template: "{{out}}", reasoningTemplate: "{{why}}", streamOutput: true },
      inputs: [
        { name: "out", ref: { node: "agent::a", name: "output" } },
        { name: "why", ref: { node: "agent::a", name: "REASONING_CONTENT" } },
      ],
    })
    .edge(START, "agent::a")
    .edge("agent::a", END)
    .build();
}

const opts = () => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  config: { AGENT_API_URL: agent.url },
  parameters: { AGENT_USER_INPUT: "plan a trip" },
});

describe("agent node", () => {
  it("relays answer tokens, renders tool calls into REASONING_CONTENT, and reports usage (item 34)", async () => {
    const script: AgentScript = {
      reasoning: ["let me look. "],
      toolCalls: [
        { type: "tool", reason: "need weather", name: "weather", arguments: '{"city":"Hefei"}', response: '{"t":20}' },
      ],
      tokens: ["Go", " on Friday"],
    };
    const { frames, outcome } = await runFlow(agentFlow(script), opts());
    expect(outcome.status).toBe("completed");
    const end = frames.filter((f) => frameNode(f) === "node-end::e");
    expect(end.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe("Go on Friday");
    const reasoning = end.map((f) => f.choices[0]?.delta.reasoning_content ?? "").join("");
    expect(reasoning).toContain("let me look. ");
    expect(reasoning).toContain("**Reasoning tool tool**\n> need weather");
    expect(reasoning).toContain('"name": "weather"');
    const agentEnd = frames.find(
      (f) => frameNode(f) === "agent::a" && f.workflow_step?.node?.finish_reason === "stop",
    ) as Frame;
    expect(agentEnd.workflow_step?.node?.outputs).toMatchObject({ output: "Go on Friday" });
    expect(agentEnd.workflow_step?.node?.usage).toEqual({ completion_tokens: 3, prompt_tokens: 7, total_tokens: 10 });
    const sent = agent.requests().at(-1) as Record<string, unknown>;
    expect(sent).toMatchObject({
      consumer: "d1590f30",
      model_config: { domain: "m", api: "https://llm.example/v1", api_key: "k" },
      instruction: { reasoning: "think about plan a trip" },
      plugin: { tools: [{ tool_id: "tool@1", version: "V1.0" }] },
      messages: [{ role: "user", content: "plan a trip" }],
      stream: true,
      max_loop_count: 5,
    });
  });

  it("turns an agent error chunk and a cut stream into 23700", async () => {
    expect((await runFlow(agentFlow({ errorCode: 40002 }), opts())).outcome).toMatchObject({
      status: "failed",
      error: { code: 23700 },
    });
    expect((await runFlow(agentFlow({ tokens: ["a"], noFinal: true }), opts())).outcome).toMatchObject({
      status: "failed",
      error: { code: 23700 },
    });
  });
});
