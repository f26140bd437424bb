// The logic-node plugins (spec §5.2, §5.6, §5.7, §5.18, §5.19), through the real engine where it matters.
import { describe, expect, it } from "vitest";
import { compare } from "../../src/plugins/if-else.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { frameNode, runFlow } from "../support/engine-harness.ts";

describe("if-else comparisons (spec §5.7: every row of the operator table)", () => {
  const rows: [Parameters<typeof compare>[0], unknown, unknown, boolean | "throws"][] = [
    ["contains", "", "", true],
    ["contains", "", "a", false],
    ["contains", null, "a", false],
    ["contains", 5, "5", false],
    ["contains", "hello", "ell", true],
    ["contains", ["a", "b"], "b", true],
    ["contains", ["a", "b"], "c", false],
    ["not_contains", "", "", false],
    ["not_contains", null, "x", true],
    ["not_contains", 5, "x", false],
    ["not_contains", "hello", "z", true],
    ["not_contains", ["a"], "a", false],
    ["start_with", "hello", "he", true],
    ["start_with", "", "", false],
    ["start_with", 12, "1", false],
    ["end_with", "hello", "lo", true],
    ["end_with", "hello", "he", false],
    ["is", null, null, false],
    ["is", "a", "a", true],
    ["is", 3, "3", true],
    // booleans are numbers in the original (Python's bool is an int): is → eq → 1 == 1
    ["is", true, true, true],
    ["is_not", "a", "b", true],
    ["is_not", 3, "4", true],
    ["is_not", null, "x", false],
    ["empty", [], null, true],
    ["empty", false, null, true],
    ["empty", 0, null, true],
    ["empty", "  ", null, true],
    ["empty", {}, null, true],
    ["empty", null, null, false],
    ["empty", "x", null, false],
    ["not_empty", null, null, true],
    ["not_empty", [1], null, true],
    ["not_empty", "", null, false],
    ["eq", 5, "5", true],
    ["eq", "abc", "abc", true],
    ["eq", null, 1, false],
    ["eq", [1], 1, false],
    ["eq", 5, "5.7", "throws"],
    ["eq", 5.5, "5.5", true],
    ["eq", true, 1, true],
    ["ne", 5, "6", true],
    ["gt", 10, "9", true],
    ["gt", 10, "abc", "throws"],
    ["gt", "10", "9", false],
    ["ge", 9, 9, true],
    ["lt", 1.5, "2.5", true],
    ["le", 3, "2", false],
    ["null", null, null, true],
    ["null", 0, null, false],
    ["not_null", 0, null, true],
    ["not_null", null, null, false],
  ];
  for (const [op, a, e, want] of rows) {
    it(`${op}(${JSON.stringify(a)}, ${JSON.stringify(e)}) → ${String(want)}`, () => {
      if (want === "throws") expect(() => compare(op, a, e)).toThrow();
      else expect(compare(op, a, e)).toBe(want);
    });
  }
});

function ifElseFlow(cases: unknown[], value: unknown, type = "integer"): ReturnType<typeof flow> {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("if-else::b", {
      inputs: [
        { id: "in-a", name: "a", type, literal: value as never },
        { id: "in-b", name: "b", type: "integer", literal: 60 },
      ],
      params: { cases: cases as never },
    })
    .node("noop::yes")
    .node("noop::no")
    .node(END, { params: { outputMode: 0 } })
    .edge(START, "if-else::b")
    .edge("if-else::b", "noop::yes", "intent_chain|branch_one_of::yes")
    .edge("if-else::b", "noop::no", "intent_chain|branch_one_of::no")
    .edge("noop::yes", END)
    .edge("noop::no", END);
}

describe("if-else node (spec §5.7)", () => {
  const ge = {
    id: "branch_one_of::yes",
    level: 1,
    logicalOperator: "and",
    conditions: [{ leftVarIndex: "in-a", rightVarIndex: "in-b", compareOperator: "ge" }],
  };
  const orElse = { id: "branch_one_of::no", level: 999, logicalOperator: "and", conditions: [] };

  it("takes the first matching case in array order, else the 999 case", async () => {
    const hi = await runFlow(ifElseFlow([ge, orElse], 70).build());
    expect(hi.frames.some((f) => frameNode(f) === "noop::yes")).toBe(true);
    const lo = await runFlow(ifElseFlow([ge, orElse], 10).build());
    expect(lo.frames.some((f) => frameNode(f) === "noop::no")).toBe(true);
    expect(lo.frames.some((f) => frameNode(f) === "noop::yes")).toBe(false);
  });

  it("counts a case that cannot be evaluated as not matched", async () => {
    const r = await runFlow(ifElseFlow([ge, orElse], "abc", "string").build());
    expect(r.outcome.status).toBe("completed");
    expect(r.frames.some((f) => frameNode(f) === "noop::no")).toBe(true);
  });

  it("[new] fails with 23100 when nothing matches and there is no else case", async () => {
    const second = {
      ...ge,
      id: "branch_one_of::no",
      conditions: [{ leftVarIndex: "in-a", rightVarIndex: null, compareOperator: "null" }],
    };
    const r = await runFlow(ifElseFlow([ge, second], 10).build());
    expect(r.outcome).toMatchObject({ status: "failed", error: { code: 23100 } });
  });

  it("rejects conditions that reference unknown inputs at build time with 22101", async () => {
    const bad = { ...ge, conditions: [{ leftVarIndex: "in-zz", rightVarIndex: "in-b", compareOperator: "ge" }] };
    await expect(runFlow(ifElseFlow([bad, orElse], 1).build())).rejects.toMatchObject({ code: 22101 });
  });
});

describe("start node (spec §5.2, §12.3 item 23)", () => {
  const b = (): ReturnType<typeof flow> =>
    flow()
      .node(START, {
        outputs: [
          { name: "AGENT_USER_INPUT", required: true },
          { name: "n", type: "integer", default: 7 },
        ],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [
          { name: "q", ref: { node: START, name: "AGENT_USER_INPUT" } },
          { name: "n", type: "integer", ref: { node: START, name: "n" } },
        ],
      })
      .edge(START, END);

  it("fails with 22500 on a missing required parameter and on an unknown one", async () => {
    const missing = await runFlow(b().build(), { parameters: { n: 1 } });
    expect(missing.outcome).toMatchObject({ status: "failed", error: { code: 22500 } });
    expect((missing.outcome as { error: { message: string } }).error.message).toContain("AGENT_USER_INPUT");
    const unknown = await runFlow(b().build(), { parameters: { AGENT_USER_INPUT: "x", zzz: 1 } });
    expect(unknown.outcome).toMatchObject({ status: "failed", error: { code: 22500 } });
  });

  it("stores the supplied values, keeps defaults for absent ones, refuses mistyped ones, and shows the values under inputs", async () => {
    const r = await runFlow(b().build(), { parameters: { AGENT_USER_INPUT: "hi" } });
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { q: "hi", n: 7 } });
    const mistyped = await runFlow(b().build(), { parameters: { AGENT_USER_INPUT: "hi", n: "not a number" } });
    expect(mistyped.outcome).toMatchObject({ status: "failed", error: { code: 22500 } });
    const startEnd = r.frames.find(
      (f) => frameNode(f) === START && f.workflow_step?.node?.finish_reason === "stop",
    ) as Frame;
    expect(startEnd.workflow_step?.node?.inputs).toEqual({ AGENT_USER_INPUT: "hi" });
    expect(startEnd.workflow_step?.node?.outputs).toEqual({});
  });
});

describe("iteration (spec §5.18, §12.3 item 24)", () => {
  function iterationFlow(): ReturnType<typeof flow> {
    return flow()
      .node(START, { outputs: [{ name: "items", type: "array", schema: { items: { type: "string" } } }] })
      .prefixIteration()
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "all", type: "array", ref: { node: "iteration::it", name: "output" } }],
      })
      .edge(START, "iteration::it")
      .edge("iteration::it", END);
  }

  it("[new] gives every item its own result, in order", async () => {
    const r = await runFlow(iterationFlow().build(), { parameters: { items: ["a", "b", "c"] } });
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { all: ["x-a", "x-b", "x-c"] } });
    // inner nodes emit normal frames, once per item
    expect(
      r.frames.filter((f) => frameNode(f) === "text-joiner::tj" && f.workflow_step?.node?.finish_reason === "stop"),
    ).toHaveLength(3);
  });

  it("answers an empty list with empty outputs", async () => {
    const empty = await runFlow(iterationFlow().build(), { parameters: { items: [] } });
    expect(empty.outcome).toMatchObject({ status: "completed", outputs: { all: [] } });
  });
});

describe("text-joiner and variable storage (spec §5.6, §5.19)", () => {
  it("splits the last input on the separator and rejects an empty separator with 23500", async () => {
    const b = (separator: string): ReturnType<typeof flow> =>
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("text-joiner::t", {
          params: { mode: 1, separator },
          inputs: [{ name: "s", ref: { node: START, name: "AGENT_USER_INPUT" } }],
          outputs: [{ name: "parts", type: "array", schema: { items: { type: "string" } } }],
        })
        .node(END, {
          params: { outputMode: 0 },
          inputs: [{ name: "parts", type: "array", ref: { node: "text-joiner::t", name: "parts" } }],
        })
        .edge(START, "text-joiner::t")
        .edge("text-joiner::t", END);
    expect((await runFlow(b(",").build(), { parameters: { AGENT_USER_INPUT: "a,b,,c" } })).outcome).toMatchObject({
      outputs: { parts: ["a", "b", "", "c"] },
    });
    expect((await runFlow(b("").build(), { parameters: { AGENT_USER_INPUT: "a" } })).outcome).toMatchObject({
      status: "failed",
      error: { code: 23500 },
    });
  });

  it("sets variables under the Astron key layout and reads them back, defaults for unknown names", async () => {
    const store = new Map<string, Record<string, unknown>>();
    const kv = {
      hgetall: async (key: string) => store.get(key) ?? {},
      hset: async (key: string, fields: Record<string, unknown>) =>
        void store.set(key, { ...(store.get(key) ?? {}), ...fields }),
    };
    const setFlow = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("node-variable::set", {
        params: { method: "set", flowId: "f9" },
        inputs: [{ name: "color", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      })
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "node-variable::set")
      .edge("node-variable::set", END);
    await runFlow(setFlow.build(), { parameters: { AGENT_USER_INPUT: "blue" }, kv });
    expect([...store.keys()]).toEqual(["sparkflowV2:variable_pool:f9:u1:app1:"]);
    const getFlow = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("node-variable::get", {
        params: { method: "get", flowId: "f9" },
        outputs: [{ name: "color" }, { name: "size", type: "integer", default: 3 }],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [
          { name: "c", ref: { node: "node-variable::get", name: "color" } },
          { name: "s", type: "integer", ref: { node: "node-variable::get", name: "size" } },
        ],
      })
      .edge(START, "node-variable::get")
      .edge("node-variable::get", END);
    expect((await runFlow(getFlow.build(), { kv })).outcome).toMatchObject({ outputs: { c: "blue", s: 3 } });
  });
});
