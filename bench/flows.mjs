// Flows the benchmarks share.

const ref = (nodeId, name) => ({ type: "string", value: { type: "ref", content: { nodeId, name } } });

/**
 * start → LLM (OpenAI protocol at `providerUrl`) → end. `script` goes to the fake provider in the request's extra
 * parameters; `stream` makes the end node stream the model's answer (`{{output}}`, outputMode 1), else the end node
 * returns it as a variable (outputMode 0).
 */
export function llmFlow(providerUrl, { script, stream = false } = {}) {
  return {
    data: {
      nodes: [
        {
          id: "node-start::s",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "S" },
            outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
          },
        },
        {
          id: "spark-llm::l",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "L" },
            nodeParam: {
              domain: "m",
              source: "openai",
              url: `${providerUrl}/v1/chat/completions`,
              apiKey: "k",
              template: "{{input}}",
              ...(script ? { extraParams: { script } } : {}),
            },
            inputs: [{ name: "input", schema: ref("node-start::s", "AGENT_USER_INPUT") }],
            outputs: [{ name: "output", schema: { type: "string" } }],
          },
        },
        {
          id: "node-end::e",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "E" },
            nodeParam: stream ? { outputMode: 1, template: "{{output}}", streamOutput: true } : { outputMode: 0 },
            inputs: [{ name: stream ? "output" : "out", schema: ref("spark-llm::l", "output") }],
          },
        },
      ],
      edges: [
        { sourceNodeId: "node-start::s", targetNodeId: "spark-llm::l" },
        { sourceNodeId: "spark-llm::l", targetNodeId: "node-end::e" },
      ],
    },
  };
}
