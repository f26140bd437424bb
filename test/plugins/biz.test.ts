// The biz → core conversion of spec §4.8 (rules 1–5 and 7), on the real Astron templates.
import { describe, expect, it } from "vitest";
import { bizEdgeToCore, bizFlowToCore, bizFlowToDsl, bizNodeToCore } from "../../src/plugins/biz.ts";
import { loadFixture } from "../support/fixtures.ts";

/** The 18 WORKFLOW_NODE_TEMPLATE rows (spec §12.4). */
const TEMPLATES = [
  "node-start",
  "node-end",
  "spark-llm",
  "ifly-code",
  "knowledge-base",
  "flow",
  "decision-making",
  "if-else",
  "iteration",
  "node-variable",
  "extractor-parameter",
  "text-joiner",
  "message",
  "plugin",
  "agent",
  "knowledge-pro-base",
  "question-answer",
  "database",
];

function isPlainObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

describe("biz → core: every node template of the fixtures (spec §12.4)", () => {
  for (const name of TEMPLATES) {
    it(`${name}.json converts to {id, data:{nodeMeta, inputs, outputs, nodeParam}}`, () => {
      const template = loadFixture(`${name}.json`) as { idType: string };
      const core = bizNodeToCore(template);
      expect(template.idType).toBe(name);
      // the id carries the type before the first ':' (spec §4.2) even though template ids are empty
      expect(core.id.split(":")[0]).toBe(name);
      expect(/^.*::[0-9a-zA-Z-]+$/.test(core.id)).toBe(true);
      expect(typeof core.data.nodeMeta.nodeType).toBe("string");
      expect(typeof core.data.nodeMeta.aliasName).toBe("string");
      expect(Array.isArray(core.data.inputs)).toBe(true);
      expect(Array.isArray(core.data.outputs)).toBe(true);
      expect(isPlainObject(core.data.nodeParam)).toBe(true);
      // rule 2: the editor's empty placeholders are gone; rule 3: no biz "array-<t>" types remain
      for (const input of core.data.inputs) {
        const content = ((input.schema as { value?: { content?: unknown } }).value ?? {}).content;
        expect(
          content === undefined ||
            content === null ||
            content === "" ||
            (isPlainObject(content) && Object.keys(content as object).length === 0),
        ).toBe(false);
      }
      expect(JSON.stringify(core.data)).not.toContain('"array-');
      expect("configs" in core.data.nodeParam).toBe(false);
      expect("patchId" in core.data.nodeParam).toBe(false);
    });
  }

  it("does not change the template it converts", () => {
    const template = loadFixture("iteration.json");
    const before = JSON.stringify(template);
    bizNodeToCore(template);
    expect(JSON.stringify(template)).toBe(before);
  });
});

describe("biz → core: nodes (rules 1–3)", () => {
  it("takes aliasName from the editor label and drops UI fields", () => {
    const core = bizNodeToCore(loadFixture("node-start.json"));
    expect(core.data.nodeMeta).toEqual({ nodeType: "基础节点", aliasName: "Start" });
    expect(Object.keys(core.data).sort()).toEqual(["inputs", "nodeMeta", "nodeParam", "outputs"]);
  });

  it("keeps the nodeMeta aliasName when there is no label", () => {
    expect(bizNodeToCore(loadFixture("text-joiner.json")).data.nodeMeta.aliasName).toBe("文本拼接");
  });

  it("keeps a real node id", () => {
    const flow = loadFixture("init-flow.json") as { nodes: unknown[] };
    expect(bizNodeToCore(flow.nodes[0]).id).toBe("node-start::d61b0f71-87ee-475e-93ba-f1607f0ce783");
  });

  it("drops inputs whose value content is empty and converts time and array types", () => {
    const core = bizNodeToCore({
      id: "ifly-code::1",
      data: {
        nodeMeta: { nodeType: "x", aliasName: "y" },
        inputs: [
          { name: "empty-ref", schema: { type: "string", value: { type: "ref", content: {} } } },
          { name: "empty-literal", schema: { type: "string", value: { type: "literal", content: "" } } },
          { name: "when", schema: { type: "time", value: { type: "literal", content: "2025-01-01" } } },
          { name: "list", schema: { type: "array-integer", value: { type: "literal", content: [1, 2] } } },
          {
            name: "ref",
            schema: {
              type: "string",
              value: { type: "ref", content: { nodeId: "node-start::1", name: "AGENT_USER_INPUT" } },
            },
          },
        ],
      },
    });
    expect(core.data.inputs.map((i) => i.name)).toEqual(["when", "list", "ref"]);
    expect(core.data.inputs[0]?.schema).toEqual({ type: "string", value: { type: "literal", content: "2025-01-01" } });
    expect(core.data.inputs[1]?.schema).toEqual({
      type: "array",
      items: { type: "integer" },
      value: { type: "literal", content: [1, 2] },
    });
  });

  it("turns array-<t> outputs into arrays and takes descriptions from default", () => {
    const core = bizNodeToCore(loadFixture("iteration.json"));
    expect(core.data.outputs).toEqual([
      { id: "", name: "output", schema: { type: "array", items: { type: "string" }, description: "" } },
    ]);
    const agent = bizNodeToCore(loadFixture("agent.json"));
    expect(agent.data.outputs[0]?.schema).toEqual({ type: "string", description: "Model reasoning process" });
  });

  it("builds array-object items from the property list: a map and the required names", () => {
    const core = bizNodeToCore(loadFixture("knowledge-base.json"));
    const schema = core.data.outputs[0]?.schema as {
      type: string;
      items: { type: string; properties: Record<string, { type: string }>; required: string[] };
    };
    expect(schema.type).toBe("array");
    expect(schema.items.type).toBe("object");
    expect(Object.keys(schema.items.properties)).toEqual([
      "score",
      "docId",
      "title",
      "content",
      "context",
      "references",
    ]);
    expect(schema.items.properties.score?.type).toBe("number");
    expect(schema.items.required).toEqual(["score", "docId", "title", "content", "context", "references"]);
  });

  it("turns object property lists into maps, nested arrays likewise", () => {
    const code = bizNodeToCore(loadFixture("ifly-code.json"));
    const key2 = code.data.outputs[2]?.schema as { type: string; properties: Record<string, { type: string }> };
    expect(key2.type).toBe("object");
    expect(key2.properties.key21?.type).toBe("string");
    const nested = bizNodeToCore({
      id: "ifly-code::2",
      data: {
        nodeMeta: {},
        outputs: [
          {
            name: "o",
            schema: {
              type: "array-object",
              properties: [
                {
                  name: "tags",
                  type: "array-object",
                  required: false,
                  properties: [{ name: "label", type: "string", required: true }],
                },
              ],
            },
          },
        ],
      },
    });
    expect(nested.data.outputs[0]?.schema).toEqual({
      type: "array",
      items: {
        type: "object",
        properties: {
          tags: {
            type: "array",
            items: { type: "object", properties: { label: { type: "string" } }, required: ["label"] },
          },
        },
        required: [],
      },
    });
  });

  it("parses retryConfig.customOutput from its JSON string", () => {
    const node = (customOutput: unknown): unknown => ({
      id: "spark-llm::1",
      data: { nodeMeta: {}, retryConfig: { timeout: 30, shouldRetry: true, errorStrategy: 1, customOutput } },
    });
    expect(bizNodeToCore(node('{"output":"sorry"}')).data.retryConfig).toEqual({
      timeout: 30,
      shouldRetry: true,
      errorStrategy: 1,
      customOutput: { output: "sorry" },
    });
    expect(bizNodeToCore(node({ output: "kept" })).data.retryConfig?.customOutput).toEqual({ output: "kept" });
    expect(bizNodeToCore(node("")).data.retryConfig?.customOutput).toEqual({});
  });
});

describe("biz → core: nodeParam clean-up (rule 7)", () => {
  it("turns topN into a string (knowledge-base template)", () => {
    expect(bizNodeToCore(loadFixture("knowledge-base.json")).data.nodeParam.topN).toBe("3");
  });

  it('turns patchId into the patch_id list ([] for "0") (spark-llm template)', () => {
    const p = bizNodeToCore(loadFixture("spark-llm.json")).data.nodeParam;
    expect(p.patch_id).toEqual([]);
    const custom = bizNodeToCore({ id: "spark-llm::1", data: { nodeMeta: {}, nodeParam: { patchId: "lora-7" } } }).data
      .nodeParam;
    expect(custom).toEqual({ patch_id: ["lora-7"] });
  });

  it("removes configs and turns a string dbId into a number", () => {
    const p = bizNodeToCore({
      id: "database::1",
      data: { nodeMeta: {}, nodeParam: { configs: [1], dbId: "42", topN: "5", mode: 0 } },
    }).data.nodeParam;
    expect(p).toEqual({ dbId: 42, topN: "5", mode: 0 });
  });
});

describe("biz → core: documents and edges (rules 1, 4, 5)", () => {
  it("converts the init document (start + end, no edges)", () => {
    const core = bizFlowToCore(loadFixture("init-flow.json"));
    expect(core.nodes.map((n) => n.id.split(":")[0])).toEqual(["node-start", "node-end"]);
    expect(core.nodes.map((n) => n.data.nodeMeta.aliasName)).toEqual(["Start", "End"]);
    // the end node's input is still the editor's `{}` placeholder: dropped
    expect(core.nodes[1]?.data.inputs).toEqual([]);
    expect(core.nodes[1]?.data.nodeParam).toEqual({ template: "", streamOutput: true, outputMode: 1 });
    expect(core.edges).toEqual([]);
  });

  it("renames source/target and prefixes branch, intent and fail handles once", () => {
    expect(
      bizEdgeToCore({ id: "e", source: "a", target: "b", sourceHandle: "branch_one_of::1", targetHandle: "t" }),
    ).toEqual({
      sourceNodeId: "a",
      targetNodeId: "b",
      sourceHandle: "intent_chain|branch_one_of::1",
      targetHandle: "t",
    });
    expect(bizEdgeToCore({ source: "a", target: "b", sourceHandle: "intent-one-of::x" }).sourceHandle).toBe(
      "intent_chain|intent-one-of::x",
    );
    expect(bizEdgeToCore({ source: "a", target: "b", sourceHandle: "fail_one_of::x" }).sourceHandle).toBe(
      "intent_chain|fail_one_of::x",
    );
    expect(
      bizEdgeToCore({ source: "a", target: "b", sourceHandle: "intent_chain|branch_one_of::1" }).sourceHandle,
    ).toBe("intent_chain|branch_one_of::1");
    expect(bizEdgeToCore({ source: "a", target: "b", sourceHandle: "option-one-of::A" }).sourceHandle).toBe(
      "option-one-of::A",
    );
    expect(bizEdgeToCore({ source: "a", target: "b" })).toEqual({ sourceNodeId: "a", targetNodeId: "b" });
  });

  it("wraps the graph in the core envelope", () => {
    const dsl = bizFlowToDsl(loadFixture("init-flow.json"), { id: "184736", name: "demo" });
    expect(dsl.id).toBe("184736");
    expect(dsl.name).toBe("demo");
    expect(dsl.description).toBe("");
    expect(dsl.version).toBe("v3.0.0");
    expect(dsl.data.nodes).toHaveLength(2);
  });
});
