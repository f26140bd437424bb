// Decision node (spec §5.8, §12.3 item 15) with the real plugin against the fake OpenAI-compatible server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type Json } from "../support/dsl-builder.ts";
import { frameNode, runFlow } from "../support/engine-harness.ts";
import { startFakeOpenAI, type FakeOpenAI, type LlmScript } from "../support/fake-openai.ts";
import { llmNode } from "../support/llm-flow.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

function decisionFlow(script: LlmScript, reasonMode: number, orphanWeather = false): unknown {
  const intents: Json = [
    { id: "intent-one-of::w", name: "weather", description: "questions about the weather", intentType: 2 },
    { id: "intent-one-of::d", name: "default", description: "anything else", intentType: 1 },
  ];
  const b = flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("decision-making::dm", {
      params: { ...llmNode(fake.url, script), intentChains: intents, reasonMode },
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "class_name" }],
    })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [{ name: "c", ref: { node: "decision-making::dm", name: "class_name" } }],
    });
  b.edge(START, "decision-making::dm");
  if (!orphanWeather) b.edge("decision-making::dm", "message::w", "intent_chain|intent-one-of::w");
  b.node("message::w", { params: { template: "W", streamOutput: true } })
    .node("message::d", { params: { template: "D", streamOutput: true } })
    .edge("decision-making::dm", "message::d", "intent_chain|intent-one-of::d")
    .edge("message::w", END)
    .edge("message::d", END);
  return b.build();
}

const opts = () => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  parameters: { AGENT_USER_INPUT: "will it rain?" },
});

describe("decision-making", () => {
  it("classifies with the prompt mode and takes the chosen intent's branch", async () => {
    const r = await runFlow(decisionFlow({ tokens: ['```json {"category_name": "weather"}```'] }, 1), opts());
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { c: "weather" } });
    expect(r.frames.some((f) => frameNode(f) === "message::w")).toBe(true);
    expect(r.frames.some((f) => frameNode(f) === "message::d")).toBe(false);
    const sent = fake.requests().at(-1) as { messages: { role: string; content: string }[] };
    expect(JSON.parse(sent.messages.at(-1)?.content ?? "{}")).toMatchObject({
      input_text: "will it rain?",
      categories: [{ category_name: "weather" }, { category_name: "DEFAULT" }],
    });
  });

  it("classifies with the destination prompt in the other modes", async () => {
    const r = await runFlow(
      decisionFlow({ tokens: ['```json\n{"destination": "weather", "next_inputs": "x"}\n```'] }, 0),
      opts(),
    );
    expect(r.outcome).toMatchObject({ outputs: { c: "weather" } });
  });

  it("swallows a provider failure into DEFAULT and the default branch (item 15)", async () => {
    const r = await runFlow(decisionFlow({ status: 500 }, 1), opts());
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { c: "DEFAULT" } });
    expect(r.frames.some((f) => frameNode(f) === "message::d")).toBe(true);
  });

  it("follows the default intent's edges when the chosen intent has none (spec §6.3)", async () => {
    const r = await runFlow(decisionFlow({ tokens: ['```json {"category_name": "weather"}```'] }, 1, true), opts());
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { c: "weather" } });
    expect(r.frames.some((f) => frameNode(f) === "message::d")).toBe(true);
  });
});

describe("extractor-parameter (spec §5.10)", () => {
  function extractorFlow(script: LlmScript): unknown {
    return flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("extractor-parameter::x", {
        params: { ...llmNode(fake.url, script), instruction: "dates as written" },
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [
          { name: "city", required: true, schema: { description: "the city" } },
          { name: "days", type: "integer", required: true },
          { name: "tags", type: "array", schema: { items: { type: "string" } } },
        ],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [
          { name: "city", ref: { node: "extractor-parameter::x", name: "city" } },
          { name: "days", type: "integer", ref: { node: "extractor-parameter::x", name: "days" } },
          { name: "tags", type: "array", ref: { node: "extractor-parameter::x", name: "tags" } },
        ],
      })
      .edge(START, "extractor-parameter::x")
      .edge("extractor-parameter::x", END)
      .build();
  }

  it("extracts the declared outputs and fixes their types", async () => {
    const r = await runFlow(
      extractorFlow({ tokens: ['```json\n{"city": "Hefei", "days": "3.7", "tags": "rain"}\n```'] }),
      opts(),
    );
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { city: "Hefei", days: 3, tags: ["rain"] } });
    const sent = fake.requests().at(-1) as { messages: { content: string }[] };
    expect(sent.messages[0]?.content).toContain('"required":["city","days"]');
  });

  it("fails with 21900 when the answer is not JSON or the provider fails", async () => {
    expect((await runFlow(extractorFlow({ tokens: ["no idea"] }), opts())).outcome).toMatchObject({
      status: "failed",
      error: { code: 21900 },
    });
    expect((await runFlow(extractorFlow({ status: 500 }), opts())).outcome).toMatchObject({
      status: "failed",
      error: { code: 21900 },
    });
  });
});
