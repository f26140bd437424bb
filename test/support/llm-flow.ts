// Flows with a real LLM node pointed at the fake OpenAI server (test/support/fake-openai.ts).
import type { LlmScript } from "./fake-openai.ts";
import { END, flow, START, type Json } from "./dsl-builder.ts";

export function llmNode(url: string, script: LlmScript, extra: Record<string, Json> = {}): Record<string, Json> {
  return {
    model: "gpt",
    domain: "fake-model",
    source: "openai",
    url: `${url}/v1/chat/completions`,
    apiKey: "sk-test",
    apiSecret: "",
    appId: "",
    temperature: 0.5,
    maxTokens: 100,
    template: "{{input}}",
    systemTemplate: "You are helpful.",
    extraParams: { script: script as unknown as Json },
    ...extra,
  };
}

/** start → spark-llm → end (prompt mode, streamed) like example-core-start-llm-end.json, on the openai protocol. */
export function startLlmEnd(
  url: string,
  script: LlmScript,
  retry?: Record<string, Json>,
): { data: { nodes: Json[]; edges: Json[] } } {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT", required: true }] })
    .node("spark-llm::l", {
      params: llmNode(url, script),
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "output" }],
      ...(retry ? { retry } : {}),
    })
    .node(END, {
      params: { outputMode: 1, template: "{{output}}", streamOutput: true },
      inputs: [{ name: "output", ref: { node: "spark-llm::l", name: "output" } }],
    })
    .edge(START, "spark-llm::l")
    .edge("spark-llm::l", END)
    .build();
}
