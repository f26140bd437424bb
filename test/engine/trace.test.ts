// Issue 17, the platform-free part (this suite runs on Node, Deno and workerd): W3C traceparent, span ids, and the
// tracer under the real scheduler — a branch (the skipped side is no span), an iteration's items under the
// iteration's attempt, nothing at all without a tracer. The fake services and the OTLP encoding are in
// test/node/trace.test.ts and test/node/otel-e2e.test.ts.
import { describe, expect, it } from "vitest";
import {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  RunTracer,
  type SpanRecord,
} from "../../src/engine/trace.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { runFlow } from "../support/engine-harness.ts";

function branchAndIteration(): unknown {
  return flow()
    .node(START, {
      outputs: [
        { name: "n", type: "integer" },
        { name: "items", type: "array", schema: { items: { type: "string" } } },
      ],
    })
    .node("if-else::b", {
      params: {
        cases: [
          {
            id: "branch_one_of::big",
            level: 1,
            logicalOperator: "and",
            conditions: [{ leftVarIndex: "l", rightVarIndex: "r", compareOperator: "gt" }],
          },
          { id: "branch_one_of::else", level: 999, logicalOperator: "and", conditions: [] },
        ],
      },
      inputs: [
        { id: "l", name: "n", type: "integer", ref: { node: START, name: "n" } },
        { id: "r", name: "limit", type: "integer", literal: 10 },
      ],
    })
    .node("text-joiner::small", { params: { prompt: "small" }, outputs: [{ name: "output" }] })
    .prefixIteration()
    .node(END, {
      params: { outputMode: 0 },
      inputs: [{ name: "all", type: "array", ref: { node: "iteration::it", name: "output" } }],
    })
    .edge(START, "if-else::b")
    .edge("if-else::b", "iteration::it", "branch_one_of::big")
    .edge("if-else::b", "text-joiner::small", "branch_one_of::else")
    .edge("text-joiner::small", END)
    .edge("iteration::it", END)
    .build();
}

describe("trace context", () => {
  it("parses and formats traceparent strictly (W3C level 1)", () => {
    const t = "4bf92f3577b34da6a3ce929d0e0e4736";
    const s = "00f067aa0ba902b7";
    expect(parseTraceparent(`00-${t}-${s}-01`)).toEqual({ traceId: t, spanId: s, flags: 1 });
    expect(formatTraceparent({ traceId: t, spanId: s, flags: 1 })).toBe(`00-${t}-${s}-01`);
    for (const bad of [`00-${t}-${s}-01-x`, `ff-${t}-${s}-01`, `00-${"0".repeat(32)}-${s}-01`, `00-${t}-${s}`, "x"])
      expect(parseTraceparent(bad)).toBeUndefined();
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("the tracer under the scheduler", () => {
  it("records attempts under the root, items under the iteration, and no span for the skipped branch", async () => {
    const spans: SpanRecord[] = [];
    const root = { traceId: newTraceId(), spanId: newSpanId(), flags: 1 };
    const tracer = new RunTracer({ root, sink: (s) => spans.push(s), now: () => Date.now() });
    const { outcome } = await runFlow(branchAndIteration(), { parameters: { n: 42, items: ["a", "b", "c"] }, tracer });
    expect(outcome).toMatchObject({ status: "completed", outputs: { all: ["x-a", "x-b", "x-c"] } });
    const names = spans.map((s) => s.name);
    expect(names).not.toContain("text-joiner::small");
    const iteration = spans.find((s) => s.name === "iteration::it") as SpanRecord;
    expect(iteration.parentSpanId).toBe(root.spanId);
    const items = spans.filter((s) => s.name.startsWith("item "));
    expect(items.map((s) => [s.name, s.parentSpanId, s.attributes["workflow.iteration.index"]])).toEqual([
      ["item 0", iteration.spanId, 0],
      ["item 1", iteration.spanId, 1],
      ["item 2", iteration.spanId, 2],
    ]);
    const inner = spans.filter((s) => s.name === "text-joiner::tj");
    expect(inner.map((s) => s.parentSpanId)).toEqual(items.map((s) => s.spanId));
    for (const s of spans) {
      expect(s.traceId).toBe(root.traceId);
      const parent = spans.find((p) => p.spanId === s.parentSpanId);
      // (one argument to expect: the Deno shim's expect takes no message)
      if (parent) expect([s.name, parent.start <= s.start && s.end <= parent.end]).toEqual([s.name, true]);
    }
    expect(spans.find((s) => s.name === "if-else::b")?.attributes).toMatchObject({
      "workflow.node.type": "if-else",
      "workflow.node.attempt": 1,
      "workflow.node.outcome": "success",
    });
  });

  it("records nothing for an unsampled trace, and the flow runs the same", async () => {
    const spans: SpanRecord[] = [];
    const tracer = new RunTracer({
      root: { traceId: newTraceId(), spanId: newSpanId(), flags: 0 },
      sink: (s) => spans.push(s),
      now: () => Date.now(),
    });
    const { outcome } = await runFlow(branchAndIteration(), { parameters: { n: 1, items: [] }, tracer });
    expect(outcome.status).toBe("completed");
    expect(spans).toEqual([]);
  });
});
