// Text processing (spec §5.6): join renders the prompt, split cuts the last input; errors are 23500.
import { describe, expect, it } from "vitest";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import textJoiner from "../../src/plugins/text-joiner.ts";
import { loadFixture } from "../support/fixtures.ts";
import { runPlugin, runPluginError } from "../support/node-context.ts";

describe("text-joiner params", () => {
  it("accepts the template's nodeParam: join mode, empty prompt and separator by default", () => {
    const core = bizNodeToCore(loadFixture("text-joiner.json"));
    expect(textJoiner.params.parse(core.data.nodeParam)).toEqual({ mode: 0, prompt: "", separator: "" });
  });

  it("strips unknown keys", () => {
    expect(textJoiner.params.parse({ mode: 1, separator: ",", configs: [] })).toEqual({
      mode: 1,
      prompt: "",
      separator: ",",
    });
  });

  it("rejects garbage", () => {
    for (const garbage of ["garbage", [1, 2, 3], { mode: 2 }, { mode: "0" }, { prompt: 5 }, { separator: null }]) {
      expect(textJoiner.params.safeParse(garbage).success).toBe(false);
    }
  });
});

describe("text-joiner join (mode 0)", () => {
  it("renders the prompt with the inputs into the first declared output", async () => {
    const { result } = await runPlugin(
      textJoiner,
      { prompt: "{{a}} and {{b}}" },
      { inputs: { a: "tea", b: "cake" }, outputs: ["joined", "other"] },
    );
    expect(result.outputs).toEqual({ joined: "tea and cake" });
    expect(result.rawOutput).toBe("tea and cake");
  });

  it("renders non-strings as JSON with the original's spacing and paths into values", async () => {
    const inputs = { list: ["a", "b"], obj: { k: 1, nested: { t: "x" } }, n: 3, flag: true };
    const { result } = await runPlugin(
      textJoiner,
      { prompt: "{{list}}|{{obj}}|{{n}}|{{flag}}|{{obj.nested.t}}|{{list[1]}}" },
      { inputs, outputs: ["output"] },
    );
    expect(result.outputs?.output).toBe('["a", "b"]|{"k": 1, "nested": {"t": "x"}}|3|true|x|b');
  });

  it("leaves placeholders that do not name an input verbatim", async () => {
    const { result } = await runPlugin(
      textJoiner,
      { prompt: "{{a}} {{zzz}} {{ a }}" },
      { inputs: { a: "1" }, outputs: ["output"] },
    );
    expect(result.outputs?.output).toBe("1 {{zzz}} {{ a }}");
  });

  it("yields an empty string for the template's empty prompt", async () => {
    const { result } = await runPlugin(textJoiner, { prompt: "" }, { inputs: { input: "x" }, outputs: ["output"] });
    expect(result.outputs).toEqual({ output: "" });
  });
});

describe("text-joiner split (mode 1)", () => {
  it("splits the last input on the literal separator into strings", async () => {
    const { result } = await runPlugin(
      textJoiner,
      { mode: 1, separator: "," },
      { inputs: { first: "x,y", last: "a,b,,c" }, outputs: [{ name: "parts", type: "array" }] },
    );
    expect(result.outputs).toEqual({ parts: ["a", "b", "", "c"] });
    expect(result.rawOutput).toBe('["a", "b", "", "c"]');
  });

  it("treats the separator literally, also when it looks like a pattern", async () => {
    const { result } = await runPlugin(
      textJoiner,
      { mode: 1, separator: ".*" },
      { inputs: { s: "a.*b.c" }, outputs: ["parts"] },
    );
    expect(result.outputs?.parts).toEqual(["a", "b.c"]);
  });

  it("gives a one-element array when the separator does not occur", async () => {
    const { result } = await runPlugin(
      textJoiner,
      { mode: 1, separator: "|" },
      { inputs: { s: "abc" }, outputs: ["parts"] },
    );
    expect(result.outputs?.parts).toEqual(["abc"]);
  });

  it("fails with 23500 on an empty separator", async () => {
    expect(
      (await runPluginError(textJoiner, { mode: 1, separator: "" }, { inputs: { s: "abc" }, outputs: ["parts"] })).code,
    ).toBe(23500);
  });

  it("fails with 23500 when the last input is not a string", async () => {
    for (const value of [42, ["a"], { a: 1 }, null]) {
      expect(
        (
          await runPluginError(
            textJoiner,
            { mode: 1, separator: "," },
            { inputs: { s: "a,b", last: value }, outputs: ["parts"] },
          )
        ).code,
      ).toBe(23500);
    }
  });

  it("fails with 23500 without an input", async () => {
    expect((await runPluginError(textJoiner, { mode: 1, separator: "," }, { outputs: ["parts"] })).code).toBe(23500);
  });
});
