import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { Scripts, testRegistry } from "../support/engine-harness.ts";
import { loadFixture } from "../support/fixtures.ts";
import { codeOf, messageOf } from "../support/errors.ts";

const registry = testRegistry(new Scripts());

function minimal(): ReturnType<typeof flow> {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT", required: true }] })
    .node("noop::a")
    .node(END, { params: { outputMode: 0 } })
    .edge(START, "noop::a")
    .edge("noop::a", END);
}

describe("compile (spec §4.10, §6.1)", () => {
  it("compiles both example fixtures into JSON-serialisable plans", () => {
    for (const name of ["example-core-start-llm-end.json", "example-core-if-else-branch.json"]) {
      const plan = compile(loadFixture(name), registry);
      expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      expect(plan.nodes[plan.start]?.type).toBe("node-start");
      expect(plan.nodes[plan.end]?.type).toBe("node-end");
    }
  });

  it("strips the intent_chain| prefix and marks fail edges", () => {
    const plan = compile(
      minimal().node("noop::f").edge("noop::a", "noop::f", "intent_chain|fail_one_of::1").edge("noop::f", END).build(),
      registry,
    );
    const failEdge = plan.edges.find((e) => plan.nodes[e.to]?.id === "noop::f");
    expect(failEdge).toMatchObject({ handle: "fail_one_of::1", fail: true });
  });

  it("records output-node gates and early-launch sources", () => {
    const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);
    const end = plan.nodes[plan.end];
    const gateIds = (end?.gatesBefore ?? []).map((i) => plan.nodes[i]?.type).sort();
    expect(gateIds).toEqual(["if-else", "message"]);
    const tj = plan.nodes.find((n) => n.type === "text-joiner");
    expect((tj?.launchBefore ?? []).map((i) => plan.nodes[i]?.type)).toEqual(["node-end"]);
  });

  it("rejects an unknown node type with 22101 naming the type", () => {
    const dsl = minimal().node("teleport::r").edge("noop::a", "teleport::r").build();
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
    expect(messageOf(() => compile(dsl, registry))).toContain("does not support node type: teleport");
  });

  it("rejects a bad nodeParam with 22101 naming the node and the field", () => {
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node(END, { params: { outputMode: "seven" } })
      .edge(START, END)
      .build();
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
    const msg = messageOf(() => compile(dsl, registry));
    expect(msg).toContain(END);
    expect(msg).toContain("nodeParam.outputMode");
  });

  it("rejects a bad node shape with 22101 naming the node and field, and no node list with 22100", () => {
    const dsl = minimal().build();
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [{ name: "x", schema: { type: "strnig", value: { type: "literal", content: "" } } }];
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
    expect(messageOf(() => compile(dsl, registry))).toMatch(/noop::a.*inputs\.0\.schema\.type/);
    expect(codeOf(() => compile({ data: {} }, registry))).toBe(22100);
    expect(codeOf(() => compile("nonsense", registry))).toBe(22100);
  });

  it("rejects dangling edges and duplicate ids with 22300", () => {
    expect(codeOf(() => compile(minimal().edge("noop::a", "noop::ghost").build(), registry))).toBe(22300);
    expect(messageOf(() => compile(minimal().edge("noop::a", "noop::ghost").build(), registry))).toContain("Node not found noop::ghost");
    expect(codeOf(() => compile(minimal().node("noop::a").build(), registry))).toBe(22300);
  });

  it("rejects cycles with 22300 instead of hanging", () => {
    const dsl = minimal().node("noop::b").edge("noop::a", "noop::b").edge("noop::b", "noop::a").build();
    expect(codeOf(() => compile(dsl, registry))).toBe(22300);
    expect(messageOf(() => compile(dsl, registry))).toContain("cycle");
  });

  it("rejects a flow without a start or an end node with 22301", () => {
    const noStart = flow().node("noop::a").node(END, { params: { outputMode: 0 } }).edge("noop::a", END).build();
    expect(codeOf(() => compile(noStart, registry))).toBe(22301);
    const noEnd = flow().node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] }).node("noop::a").edge(START, "noop::a").build();
    expect(codeOf(() => compile(noEnd, registry))).toBe(22301);
  });

  it("coerces literals by typed parsing and never evaluates them (item 20)", () => {
    const dsl = minimal().build();
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [{ name: "n", schema: { type: "integer", value: { type: "literal", content: "123" } } }];
    const plan = compile(dsl, registry);
    const input = plan.nodes.find((n) => n.id === "noop::a")?.inputs[0];
    expect(input).toMatchObject({ kind: "literal", value: 123 });
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [
      { name: "n", schema: { type: "integer", value: { type: "literal", content: "__import__('os')" } } },
    ];
    expect(codeOf(() => compile(dsl, registry))).toBe(20601);
  });

  it("accepts retryConfig in camelCase and snake_case, camelCase winning", () => {
    const dsl = minimal().build();
    (dsl.data.nodes[1] as { data: Record<string, unknown> }).data.retryConfig = {
      shouldRetry: true,
      should_retry: false,
      max_retries: 2,
      errorStrategy: 2,
      error_strategy: 1,
    };
    const node = compile(dsl, registry).nodes.find((n) => n.id === "noop::a");
    expect(node?.retry).toMatchObject({ shouldRetry: true, maxRetries: 2, errorStrategy: 2, timeout: 60 });
  });

  it("rejects a customOutput that does not match the declared outputs with 22101", () => {
    const dsl = minimal().build();
    const node = dsl.data.nodes[1] as { data: Record<string, unknown> };
    node.data.outputs = [{ name: "n", schema: { type: "integer" } }];
    node.data.retryConfig = { shouldRetry: true, errorStrategy: 1, customOutput: { n: "not a number" } };
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
    node.data.retryConfig = { shouldRetry: true, errorStrategy: 1, customOutput: '{"n": 5}' };
    expect(compile(dsl, registry).nodes.find((n) => n.id === "noop::a")?.retry.customOutput).toEqual({ n: 5 });
  });

  it("rejects an empty ref except on an iteration's end node (spec §4.3)", () => {
    const dsl = minimal().build();
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [{ name: "x", schema: { type: "string", value: { type: "ref", content: {} } } }];
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
  });

  it("ignores unknown properties anywhere in the DSL", () => {
    const dsl = minimal().build() as { data: { nodes: Record<string, unknown>[] } } & Record<string, unknown>;
    dsl.whatever = 1;
    for (const n of dsl.data.nodes) {
      n.position = { x: 1, y: 2 };
      (n.data as Record<string, unknown>).icon = "x.png";
    }
    expect(() => compile(dsl, registry)).not.toThrow();
  });
});
