// The start node (spec §5.2; §12.3 item 23 at plugin level).
import { describe, expect, it } from "vitest";
import type { OutputSpec } from "../../src/engine/types.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import nodeStart from "../../src/plugins/node-start.ts";
import { loadFixture } from "../support/fixtures.ts";
import { type OutputShape, runPlugin, runPluginError } from "../support/node-context.ts";

/** The template's outputs as the engine declares them: AGENT_USER_INPUT, a required string. */
function templateOutputs(): OutputShape[] {
  const core = bizNodeToCore(loadFixture("node-start.json"));
  return core.data.outputs.map((o) => ({
    name: String(o.name),
    required: o.required === true,
    schema: o.schema as OutputSpec["schema"],
  }));
}

const OUTPUTS: OutputShape[] = [
  ...templateOutputs(),
  { name: "n", type: "integer", default: 7 },
  { name: "ratio", type: "number" },
  { name: "tags", type: "array", schema: { items: { type: "string" } } },
  { name: "flag", type: "boolean" },
];

const start = (parameters: Record<string, unknown>, outputs: OutputShape[] = OUTPUTS) =>
  runPlugin(nodeStart, {}, { parameters, outputs });
const startError = (parameters: Record<string, unknown>, outputs: OutputShape[] = OUTPUTS) =>
  runPluginError(nodeStart, {}, { parameters, outputs });

describe("node-start params", () => {
  it("accepts the template's nodeParam and ignores unknown keys", () => {
    const core = bizNodeToCore(loadFixture("node-start.json"));
    expect(nodeStart.params.safeParse(core.data.nodeParam).success).toBe(true);
    expect(nodeStart.params.safeParse({ whatever: 1 })).toEqual({ success: true, data: {} });
  });

  it("rejects garbage", () => {
    for (const garbage of ["garbage", [1, 2, 3], 42, null])
      expect(nodeStart.params.safeParse(garbage).success).toBe(false);
  });
});

describe("node-start validation (spec §5.2, §12.3 item 23)", () => {
  it("fails with 22500 when a required parameter is missing, naming it in English", async () => {
    const e = await startError({ n: 1 });
    expect(e.code).toBe(22500);
    expect(e.message).toContain("missing required field: 'AGENT_USER_INPUT'");
  });

  it("fails with 22500 on a parameter that is not a declared output", async () => {
    const e = await startError({ AGENT_USER_INPUT: "hi", zzz: 1 });
    expect(e.code).toBe(22500);
    expect(e.message).toContain("unknown parameter: zzz");
  });

  it("fails with 22500 when a value's type is not the declared one (the schema carries the types)", async () => {
    for (const bad of [
      { n: "seven" },
      { n: 1.5 },
      { n: true },
      { flag: "true" },
      { tags: "a" },
      { tags: ["a", 2] },
      { AGENT_USER_INPUT: null },
    ]) {
      const e = await startError({ AGENT_USER_INPUT: "hi", ...bad });
      expect(e.code).toBe(22500);
    }
    expect((await startError({ AGENT_USER_INPUT: "hi", n: "seven" })).message).toContain(
      "n: expected integer, got string",
    );
  });

  it("accepts an integer for a number output", async () => {
    const { result } = await start({ AGENT_USER_INPUT: "hi", ratio: 2 });
    expect(result.outputs?.ratio).toBe(2);
  });
});

describe("node-start values (spec §5.2)", () => {
  it("makes the supplied values its outputs and gives absent ones their defaults", async () => {
    const { result } = await start({ AGENT_USER_INPUT: "hello", tags: ["a", "b"] });
    expect(result.outputs).toEqual({ AGENT_USER_INPUT: "hello", n: 7, ratio: 0, tags: ["a", "b"], flag: false });
  });

  it("shows the supplied values (only those) as the frame's inputs", async () => {
    const { result } = await start({ AGENT_USER_INPUT: "hello", n: 3 });
    expect(result.shownInputs).toEqual({ AGENT_USER_INPUT: "hello", n: 3 });
    expect(result.outputs).toMatchObject({ AGENT_USER_INPUT: "hello", n: 3 });
  });

  it("runs with the template's outputs alone", async () => {
    const { result } = await start({ AGENT_USER_INPUT: "你好" }, templateOutputs());
    expect(result.outputs).toEqual({ AGENT_USER_INPUT: "你好" });
  });

  it("stores a value only when its JSON type is the declared one (an output without a JSON type keeps its default)", async () => {
    const { result } = await start({ x: "kept out" }, [{ name: "x", type: "", default: "default" }]);
    expect(result.outputs).toEqual({ x: "default" });
    expect(result.shownInputs).toEqual({ x: "kept out" });
  });

  it("does not share default objects between runs", async () => {
    const outputs: OutputShape[] = [{ name: "o", type: "object", default: { a: 1 } }];
    const first = await start({}, outputs);
    (first.result.outputs?.o as Record<string, unknown>).a = 2;
    const second = await start({}, outputs);
    expect(second.result.outputs).toEqual({ o: { a: 1 } });
  });
});
