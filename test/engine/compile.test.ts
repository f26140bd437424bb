import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { registry as realRegistry } from "../../src/plugins/index.ts";
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
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [
      { name: "x", schema: { type: "strnig", value: { type: "literal", content: "" } } },
    ];
    expect(codeOf(() => compile(dsl, registry))).toBe(22101);
    expect(messageOf(() => compile(dsl, registry))).toMatch(/noop::a.*inputs\.0\.schema\.type/);
    expect(codeOf(() => compile({ data: {} }, registry))).toBe(22100);
    expect(codeOf(() => compile("nonsense", registry))).toBe(22100);
  });

  it("rejects dangling edges and duplicate ids with 22300", () => {
    expect(codeOf(() => compile(minimal().edge("noop::a", "noop::ghost").build(), registry))).toBe(22300);
    expect(messageOf(() => compile(minimal().edge("noop::a", "noop::ghost").build(), registry))).toContain(
      "Node not found noop::ghost",
    );
    expect(codeOf(() => compile(minimal().node("noop::a").build(), registry))).toBe(22300);
  });

  it("rejects cycles with 22300 instead of hanging", () => {
    const dsl = minimal().node("noop::b").edge("noop::a", "noop::b").edge("noop::b", "noop::a").build();
    expect(codeOf(() => compile(dsl, registry))).toBe(22300);
    expect(messageOf(() => compile(dsl, registry))).toContain("cycle");
  });

  it("rejects a flow without a start or an end node with 22301", () => {
    const noStart = flow()
      .node("noop::a")
      .node(END, { params: { outputMode: 0 } })
      .edge("noop::a", END)
      .build();
    expect(codeOf(() => compile(noStart, registry))).toBe(22301);
    const noEnd = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("noop::a")
      .edge(START, "noop::a")
      .build();
    expect(codeOf(() => compile(noEnd, registry))).toBe(22301);
  });

  it("coerces literals by typed parsing and never evaluates them (item 20)", () => {
    const dsl = minimal().build();
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [
      { name: "n", schema: { type: "integer", value: { type: "literal", content: "123" } } },
    ];
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
    (dsl.data.nodes[1] as { data: { inputs: unknown } }).data.inputs = [
      { name: "x", schema: { type: "string", value: { type: "ref", content: {} } } },
    ];
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

// issue 13 item 10: the SHOULD checks of spec §4.10 are errors at build, naming the node and the field
describe("compile: refs and branch handles (spec §4.10 SHOULD)", () => {
  type Envelope = {
    data: {
      nodes: { id: string; data: Record<string, unknown> }[];
      edges: { sourceNodeId: string; sourceHandle?: string }[];
    };
  };
  const IF = "if-else::22222222-2222-4222-8222-222222222222";
  const MSG = "message::33333333-3333-4333-8333-333333333333";
  const TJ = "text-joiner::44444444-4444-4444-8444-444444444444";
  const FEND = "node-end::55555555-5555-4555-8555-555555555555";
  const fixture = (): Envelope => loadFixture("example-core-if-else-branch.json") as Envelope;
  const node = (f: Envelope, id: string): { data: Record<string, unknown> } =>
    f.data.nodes.find((n) => n.id === id) as { data: Record<string, unknown> };
  const ref = (nodeId: string, name: string, input = "x"): Record<string, unknown> => ({
    name: input,
    schema: { type: "string", value: { type: "ref", content: { nodeId, name } } },
  });
  const refuse = (dsl: unknown, code: number, ...parts: string[]): void => {
    expect(codeOf(() => compile(dsl, registry))).toBe(code);
    const msg = messageOf(() => compile(dsl, registry));
    for (const p of parts) expect(msg).toContain(p);
  };

  it("refuses a ref to a node that does not exist with 22300, naming the node, the input and the missing id", () => {
    const f = fixture();
    (node(f, FEND).data.inputs as unknown[]).push(ref("text-joiner::gone", "output", "late"));
    refuse(f, 22300, FEND, "input late", "Node not found text-joiner::gone");
  });

  it("refuses a ref to an output the node does not declare with 22101; errorCode and errorMessage are always there", () => {
    const f = fixture();
    (node(f, FEND).data.inputs as unknown[]).push(ref(TJ, "outptu", "typo"));
    refuse(f, 22101, FEND, "input typo", `node ${TJ} has no output outptu`);
    const g = fixture();
    (node(g, FEND).data.inputs as unknown[]).push(
      ref(TJ, "errorCode", "code"),
      ref(TJ, "errorMessage", "why"),
      ref(TJ, "output.deeper", "path"),
    );
    expect(() => compile(g, registry)).not.toThrow();
  });

  it("refuses a ref to a node that runs later, or to the node itself, with 22300", () => {
    const later = fixture();
    (node(later, IF).data.inputs as unknown[]).push(ref(TJ, "output", "ahead"));
    refuse(later, 22300, IF, "input ahead", `node ${TJ} runs after it`);
    const self = fixture();
    (node(self, TJ).data.inputs as unknown[]).push(ref(TJ, "output", "me"));
    refuse(self, 22300, TJ, "input me", "refers to itself");
  });

  it("accepts refs to any earlier node, and across parallel branches (neither before nor after the reader)", () => {
    const f = fixture();
    // the message (case a) reads the text joiner (case b): a real flow may, and reads its defaults when skipped
    (node(f, MSG).data.inputs as unknown[]).push(ref(TJ, "output", "other"));
    (node(f, FEND).data.inputs as unknown[]).push(
      ref("node-start::11111111-1111-4111-8111-111111111111", "score", "score"),
    );
    const plan = compile(f, registry);
    const input = plan.nodes.find((n) => n.id === MSG)?.inputs.find((i) => i.name === "other");
    expect(plan.nodes[input?.ref ?? -1]?.id).toBe(TJ);
  });

  it("refuses an if-else edge whose handle is none of its case ids with 22300 naming node, edge and nodeParam.cases", () => {
    const f = fixture();
    const edge = f.data.edges.find((e) => e.sourceNodeId === IF && e.sourceHandle?.includes("aaaaaaaa"));
    if (edge) edge.sourceHandle = "intent_chain|branch_one_of::cccccccc-cccc-4ccc-8ccc-cccccccccccc";
    refuse(f, 22300, IF, MSG, "branch_one_of::cccccccc-cccc-4ccc-8ccc-cccccccccccc", "nodeParam.cases");
    const bare = fixture();
    const e2 = bare.data.edges.find((e) => e.sourceNodeId === IF && e.sourceHandle?.includes("bbbbbbbb"));
    if (e2) delete e2.sourceHandle;
    refuse(bare, 22300, IF, TJ, "no handle", "nodeParam.cases");
  });

  it("keeps a case without an edge valid: a branch left unconnected is the run's business", () => {
    const f = fixture();
    const cases = (node(f, IF).data.nodeParam as { cases: Record<string, unknown>[] }).cases;
    cases.splice(1, 0, {
      id: "branch_one_of::dddddddd-dddd-4ddd-8ddd-dddddddddddd",
      level: 2,
      logicalOperator: "and",
      conditions: [],
    });
    expect(() => compile(f, registry)).not.toThrow();
  });

  function iterationFlow(): ReturnType<typeof flow> {
    return flow()
      .node(START, {
        outputs: [
          { name: "items", type: "array", schema: { items: { type: "string" } } },
          { name: "AGENT_USER_INPUT" },
        ],
      })
      .node("text-joiner::pre", {
        params: { prompt: "{{q}}" },
        inputs: [{ name: "q", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "output" }],
      })
      .node("iteration::it", {
        params: { IterationStartNodeId: "iteration-node-start::is" },
        inputs: [{ name: "input", type: "array", ref: { node: START, name: "items" } }],
        outputs: [{ name: "output", type: "array", schema: { items: { type: "string" } } }],
      })
      .node("iteration-node-start::is", { outputs: [{ name: "input" }] })
      .node("text-joiner::tj", {
        params: { prompt: "{{item}}{{q}}" },
        // the body reads its own start, a node before the iteration and the start node of the flow
        inputs: [
          { name: "item", ref: { node: "iteration-node-start::is", name: "input" } },
          { name: "q", ref: { node: "text-joiner::pre", name: "output" } },
          { name: "u", ref: { node: START, name: "AGENT_USER_INPUT" } },
        ],
        outputs: [{ name: "output" }],
      })
      .node("iteration-node-end::ie", {
        params: { outputMode: 0 },
        inputs: [{ name: "output", ref: { node: "text-joiner::tj", name: "output" } }],
      })
      .node("text-joiner::post", { params: { prompt: "done" }, outputs: [{ name: "output" }] })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "all", type: "array", ref: { node: "iteration::it", name: "output" } }],
      })
      .edge(START, "text-joiner::pre")
      .edge("text-joiner::pre", "iteration::it")
      .edge("iteration::it", "text-joiner::post")
      .edge("text-joiner::post", END)
      .edge("iteration-node-start::is", "text-joiner::tj")
      .edge("text-joiner::tj", "iteration-node-end::ie");
  }
  const innerInputs = (dsl: ReturnType<ReturnType<typeof flow>["build"]>, id: string): unknown[] =>
    (
      (dsl.data.nodes as { id: string; data: { inputs: unknown[] } }[]).find((n) => n.id === id) as {
        data: { inputs: unknown[] };
      }
    ).data.inputs;

  it("lets an iteration's body read its own nodes and the nodes before the iteration", () => {
    expect(() => compile(iterationFlow().build(), registry)).not.toThrow();
  });

  it("refuses a body ref to a node after the iteration, and an outside ref into the body, with 22300", () => {
    const after = iterationFlow().build();
    innerInputs(after, "text-joiner::tj").push(ref("text-joiner::post", "output", "future"));
    refuse(after, 22300, "text-joiner::tj", "input future", "node text-joiner::post runs after it");
    const into = iterationFlow().build();
    innerInputs(into, END).push(ref("text-joiner::tj", "output", "peek"));
    refuse(into, 22300, END, "input peek", "is inside iteration iteration::it");
  });

  it("checks decision intents and question-answer options against their edges with the real plugins", () => {
    // the test registry scripts decision-making; the real plugin declares its intents as its handles
    const real = realRegistry;
    const decision = (handle: string): unknown =>
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("decision-making::dm", {
          params: {
            domain: "x",
            intentChains: [
              { id: "intent-one-of::w", name: "weather", description: "w", intentType: 2 },
              { id: "intent-one-of::d", name: "default", description: "d", intentType: 1 },
            ],
          },
          inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
          outputs: [{ name: "class_name" }],
        })
        .node(END, { params: { outputMode: 0 } })
        .edge(START, "decision-making::dm")
        .edge("decision-making::dm", END, handle)
        .build();
    expect(() => compile(decision("intent_chain|intent-one-of::w"), real)).not.toThrow();
    expect(codeOf(() => compile(decision("intent_chain|intent-one-of::x"), real))).toBe(22300);
    expect(messageOf(() => compile(decision("intent_chain|intent-one-of::x"), real))).toMatch(
      /decision-making::dm.*intent-one-of::x.*nodeParam\.intentChains/,
    );

    const qa = (handle: string): unknown =>
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("question-answer::q", {
          params: {
            question: "?",
            answerType: "option",
            timeout: 1,
            needReply: true,
            directAnswer: {},
            optionAnswer: [{ id: "option-one-of::a", name: "A", type: 2 }],
          },
          outputs: [{ name: "query" }],
        })
        .node(END, { params: { outputMode: 0 } })
        .edge(START, "question-answer::q")
        .edge("question-answer::q", END, handle)
        .build();
    expect(() => compile(qa("option-one-of::a"), real)).not.toThrow();
    expect(codeOf(() => compile(qa("option-one-of::b"), real))).toBe(22300);
    expect(messageOf(() => compile(qa("option-one-of::b"), real))).toMatch(
      /question-answer::q.*option-one-of::b.*nodeParam\.optionAnswer/,
    );
  });

  it("quotes a huge node id, input name or ref by a short prefix only (issue 13 item 8)", () => {
    const huge = "n".repeat(3 * 1024 * 1024);
    const f = fixture();
    (node(f, FEND).data.inputs as unknown[]).push(ref(`text-joiner::${huge}`, huge, huge));
    const msg = messageOf(() => compile(f, registry));
    expect(codeOf(() => compile(f, registry))).toBe(22300);
    expect(msg.length).toBeLessThan(1000);
    expect(msg).toContain(`…(${3 * 1024 * 1024} bytes)`);
    // the older checks quote the same way: an edge to a missing node, a node whose shape is wrong
    const edge = minimal().edge("noop::a", `noop::${huge}`).build();
    const edgeMsg = messageOf(() => compile(edge, registry));
    expect(edgeMsg.length).toBeLessThan(300);
    expect(edgeMsg).toContain(`Node not found noop::${"n".repeat(94)}…(${6 + huge.length} bytes)`);
    const shape = minimal().node(`noop::${huge}`).build();
    (shape.data.nodes.at(-1) as { data: Record<string, unknown> }).data.inputs = "not a list";
    expect(messageOf(() => compile(shape, registry)).length).toBeLessThan(1000);
  });
});
