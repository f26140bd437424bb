// Iteration and its inner start and end (spec §5.18; §12.3 item 24 at plugin level).
import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import type { SubgraphResult } from "../../src/engine/plugin.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import { iteration, iterationEnd, iterationStart } from "../../src/plugins/iteration.ts";
import { loadFixture } from "../support/fixtures.ts";
import { runPlugin, runPluginError } from "../support/node-context.ts";

const usage = (n: number) => ({ completion_tokens: n, prompt_tokens: 2 * n, total_tokens: 3 * n });

/** An inner graph standing in for the engine: records its calls and checks they never overlap. */
function fakeInner(
  body: (startOutputs: Record<string, unknown>, call: number) => Promise<SubgraphResult> | SubgraphResult,
) {
  const calls: { startId: string; startOutputs: Record<string, unknown> }[] = [];
  let running = 0;
  let overlapped = false;
  const runSubgraph = async (startId: string, startOutputs: Record<string, unknown>): Promise<SubgraphResult> => {
    calls.push({ startId, startOutputs });
    running++;
    if (running > 1) overlapped = true;
    try {
      await Promise.resolve();
      return await body(startOutputs, calls.length);
    } finally {
      running--;
    }
  };
  return { calls, runSubgraph, overlapped: () => overlapped };
}

const PARAMS = { IterationStartNodeId: "iteration-node-start::is" };

describe("iteration params", () => {
  it("rejects the template as it comes: IterationStartNodeId is filled in when the inner graph is created", () => {
    const param = bizNodeToCore(loadFixture("iteration.json")).data.nodeParam;
    expect(iteration.params.safeParse(param).success).toBe(false);
    expect(iteration.params.parse({ ...param, ...PARAMS })).toEqual(PARAMS);
  });

  it("rejects garbage", () => {
    for (const garbage of ["garbage", [1, 2, 3], {}, { IterationStartNodeId: "" }, { IterationStartNodeId: 5 }]) {
      expect(iteration.params.safeParse(garbage).success).toBe(false);
    }
  });

  it("names its inner start node", () => {
    expect(iteration.innerStart?.(iteration.params.parse(PARAMS))).toBe("iteration-node-start::is");
  });

  it("needs its array input at build (22101)", () => {
    const p = iteration.params.parse(PARAMS);
    const node = { id: "iteration::it", type: "iteration", inputs: [], outputs: [] };
    let code = 0;
    try {
      iteration.check?.(p, node);
    } catch (e) {
      if (e instanceof WorkflowError) code = e.code;
    }
    expect(code).toBe(22101);
    expect(() => iteration.check?.(p, { ...node, inputs: [{ name: "input" }] })).not.toThrow();
  });
});

describe("iteration run (spec §5.18)", () => {
  it("[new] gives every item its own result: a, b, c → x-a, x-b, x-c (§12.3 item 24)", async () => {
    const inner = fakeInner((start) => ({ outputs: { output: `x-${String(start.input)}` }, usage: usage(1) }));
    const { result } = await runPlugin(iteration, PARAMS, {
      inputs: { input: ["a", "b", "c"] },
      outputs: [{ name: "output", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(result.outputs).toEqual({ output: ["x-a", "x-b", "x-c"] });
    // the inner start receives {<input name>: item}, one item at a time, in order
    expect(inner.calls).toEqual([
      { startId: "iteration-node-start::is", startOutputs: { input: "a" } },
      { startId: "iteration-node-start::is", startOutputs: { input: "b" } },
      { startId: "iteration-node-start::is", startOutputs: { input: "c" } },
    ]);
    expect(inner.overlapped()).toBe(false);
  });

  it("names the item after its first input and ignores the others", async () => {
    const inner = fakeInner((start) => ({ outputs: { out: start }, usage: usage(0) }));
    const { result } = await runPlugin(iteration, PARAMS, {
      inputs: { rows: [1, 2], extra: "x" },
      outputs: [{ name: "out", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(result.outputs).toEqual({ out: [{ rows: 1 }, { rows: 2 }] });
  });

  it("collects one array per declared output; an output the inner end never gives is []", async () => {
    const inner = fakeInner((start) => ({
      outputs: { a: start.input, b: { n: start.input }, undeclared: 1 },
      usage: usage(0),
    }));
    const { result } = await runPlugin(iteration, PARAMS, {
      inputs: { input: [1, 2] },
      outputs: [
        { name: "a", type: "array" },
        { name: "b", type: "array" },
        { name: "c", type: "array" },
      ],
      runSubgraph: inner.runSubgraph,
    });
    expect(result.outputs).toEqual({ a: [1, 2], b: [{ n: 1 }, { n: 2 }], c: [] });
  });

  it("sums the items' token usage", async () => {
    const inner = fakeInner((_s, call) => ({ outputs: { output: "" }, usage: usage(call) }));
    const { result } = await runPlugin(iteration, PARAMS, {
      inputs: { input: ["a", "b", "c"] },
      outputs: [{ name: "output", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(result.usage).toEqual(usage(6));
  });

  it("answers an empty list with empty arrays without running the inner graph", async () => {
    const inner = fakeInner(() => ({ outputs: {}, usage: usage(0) }));
    const { result } = await runPlugin(iteration, PARAMS, {
      inputs: { input: [] },
      outputs: [{ name: "output", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(result.outputs).toEqual({ output: [] });
    expect(result.usage).toEqual(usage(0));
    expect(inner.calls).toEqual([]);
  });

  it("fails with 23200 when the input is not an array", async () => {
    for (const input of ["a,b", 3, { a: 1 }, null]) {
      const inner = fakeInner(() => ({ outputs: {}, usage: usage(0) }));
      const e = await runPluginError(iteration, PARAMS, {
        inputs: { input },
        outputs: [{ name: "output", type: "array" }],
        runSubgraph: inner.runSubgraph,
      });
      expect(e.code).toBe(23200);
      expect(inner.calls).toEqual([]);
    }
  });

  it("fails with the inner node's code when an item fails, and stops there", async () => {
    const inner = fakeInner((start) => {
      if (start.input === "b") throw WorkflowError.of(23500, "separator must not be empty");
      return { outputs: { output: "ok" }, usage: usage(0) };
    });
    const e = await runPluginError(iteration, PARAMS, {
      inputs: { input: ["a", "b", "c"] },
      outputs: [{ name: "output", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(e.code).toBe(23500);
    expect(inner.calls).toHaveLength(2);
  });

  it("fails with 23200 when an item fails without a code, keeping the exception's text out of the message", async () => {
    const inner = fakeInner(() => {
      throw new Error("inner exploded");
    });
    const e = await runPluginError(iteration, PARAMS, {
      inputs: { input: ["a"] },
      outputs: [{ name: "output", type: "array" }],
      runSubgraph: inner.runSubgraph,
    });
    expect(e.code).toBe(23200);
    // issue 13: an uncoded exception is internal text; the client gets a reference to the log line
    expect(e.message).toMatch(/internal error, reference [0-9a-f]{8}/);
    expect(e.message).not.toContain("inner exploded");
  });
});

describe("iteration-node-start", () => {
  it("has no params (unknown keys stripped) and rejects garbage", () => {
    expect(iterationStart.params.parse({ anything: 1 })).toEqual({});
    expect(iterationStart.params.safeParse("garbage").success).toBe(false);
  });

  it("outputs the item it is handed, without the start node's unknown-key rule", async () => {
    const { result } = await runPlugin(
      iterationStart,
      {},
      { parameters: { input: "a", other: 1 }, outputs: ["input"] },
    );
    expect(result.outputs).toEqual({ input: "a", other: 1 });
    expect(result.shownInputs).toEqual({ input: "a", other: 1 });
  });
});

describe("iteration-node-end", () => {
  it("requires outputMode; template defaults to empty", () => {
    expect(iterationEnd.params.safeParse({}).success).toBe(false);
    expect(iterationEnd.params.safeParse({ outputMode: "0" }).success).toBe(false);
    expect(iterationEnd.params.safeParse({ outputMode: 0.5 }).success).toBe(false);
    expect(iterationEnd.params.safeParse("garbage").success).toBe(false);
    expect(iterationEnd.params.parse({ outputMode: 1, streamOutput: true })).toEqual({ outputMode: 1, template: "" });
  });

  it("outputs its resolved inputs: the item's result", async () => {
    const { result } = await runPlugin(iterationEnd, { outputMode: 0 }, { inputs: { output: "x-a", n: 2 } });
    expect(result.outputs).toEqual({ output: "x-a", n: 2 });
  });
});
