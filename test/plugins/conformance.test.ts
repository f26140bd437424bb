// STYLE §18: every registered plugin accepts its real Astron template and rejects garbage with the spec's code.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { WorkflowError } from "../../src/engine/errors.ts";
import { registry } from "../../src/plugins/index.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import { loadFixture } from "../support/fixtures.ts";

/** Templates whose nodeParam the console leaves incomplete until the user fills it in (spec §12.4). */
const INCOMPLETE: Record<string, string> = {
  "if-else": "conditions have null fields until edited",
  "decision-making": "the normal intent has an empty name until edited",
  "node-variable": "flowId is filled in when the node is placed in a flow",
  iteration: "IterationStartNodeId is filled in when the inner graph is created",
  flow: "flowId and appId are filled in when a sub-flow is picked",
  plugin: "pluginId and operationId are filled in when a tool is picked",
  "knowledge-pro-base": "repoIds is empty and the console fills in the model credentials later",
};

const FIXTURE_OF: Record<string, string> = {
  "node-start": "node-start.json",
  "node-end": "node-end.json",
  message: "message.json",
  "text-joiner": "text-joiner.json",
  "if-else": "if-else.json",
  iteration: "iteration.json",
  "node-variable": "node-variable.json",
  "spark-llm": "spark-llm.json",
  "decision-making": "decision-making.json",
  "extractor-parameter": "extractor-parameter.json",
  "question-answer": "question-answer.json",
  agent: "agent.json",
  flow: "flow.json",
  "knowledge-base": "knowledge-base.json",
  "knowledge-pro-base": "knowledge-pro-base.json",
  plugin: "plugin.json",
  database: "database.json",
  "ifly-code": "ifly-code.json",
};

describe("plugin conformance with the real Astron templates", () => {
  for (const type of registry.types()) {
    const fixture = FIXTURE_OF[type];
    if (!fixture) continue; // inner iteration nodes and test-only types have no template of their own
    it(`${type}: the template's nodeParam parses, garbage is rejected`, () => {
      const template = loadFixture(fixture) as { idType?: string };
      const core = bizNodeToCore(template) as { data: { nodeParam: unknown } };
      const plugin = registry.get(type);
      const parsed = plugin.params.safeParse(core.data.nodeParam);
      if (INCOMPLETE[type]) expect(parsed.success).toBe(false);
      else expect(parsed.success).toBe(true);
      expect(plugin.params.safeParse("garbage").success).toBe(false);
      expect(plugin.params.safeParse([1, 2, 3]).success).toBe(false);
    });
  }

  it("a flow using a registered type with a garbage nodeParam fails to compile with 22101", () => {
    const dsl = {
      data: {
        nodes: [
          {
            id: "node-start::s",
            data: {
              nodeMeta: { nodeType: "x", aliasName: "S" },
              outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
            },
          },
          {
            id: "node-end::e",
            data: { nodeMeta: { nodeType: "x", aliasName: "E" }, nodeParam: { outputMode: { nested: true } } },
          },
        ],
        edges: [{ sourceNodeId: "node-start::s", targetNodeId: "node-end::e" }],
      },
    };
    let code = 0;
    try {
      compile(dsl, registry);
    } catch (e) {
      if (e instanceof WorkflowError) code = e.code;
    }
    expect(code).toBe(22101);
  });
});
