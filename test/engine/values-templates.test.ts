// Templates (spec §4.7), refs into the variable pool (§6.5), literal coercion (§4.3) and schema checks (§4.4, §4.6).
import { describe, expect, it } from "vitest";
import { resolveRefPath } from "../../src/engine/refs.ts";
import { checkCustomOutput, validateOutputs, validateSchema } from "../../src/engine/schema.ts";
import { parseTemplate, renderTemplate, renderValue } from "../../src/engine/template.ts";
import type { OutputSpec } from "../../src/engine/types.ts";
import { coerceLiteral, outputDefault, typeDefault } from "../../src/engine/values.ts";
import { codeOf as code } from "../support/errors.ts";

describe("templates (spec §4.7, §12.3 item 21)", () => {
  const inputs = {
    a: { b: "deep", n: 3 },
    arr: ["x", "y", "z"],
    list: [{ title: "t0" }, { title: "t1" }],
    s: "plain",
    empty: "",
  };

  it("substitutes object keys, array indexes and both combined", () => {
    expect(renderTemplate("{{a.b}}|{{arr[1]}}|{{list[1].title}}|{{arr[-1]}}", inputs)).toBe("deep|y|t1|z");
  });

  it("leaves placeholders verbatim when they are not inputs or not exactly {{name}}", () => {
    expect(renderTemplate("{{missing}} {{ s }} {{s}} {{a..b}}", inputs)).toBe("{{missing}} {{ s }} plain {{a..b}}");
  });

  it("renders unreadable paths as their inner text and missing keys as null", () => {
    expect(renderTemplate("{{s.key}}", inputs)).toBe("s.key");
    expect(renderTemplate("{{a.nope}}", inputs)).toBe("null");
  });

  it("fails with 20602 on an index out of range", () => {
    expect(code(() => renderTemplate("{{arr[7]}}", inputs))).toBe(20602);
  });

  it("renders non-strings as JSON with Python spacing, and empty values as one space in prompts", () => {
    expect(renderTemplate("{{a}}", inputs)).toBe('{"b": "deep", "n": 3}');
    expect(renderValue(["中", 1, true, null], "json")).toBe('["中", 1, true, null]');
    expect(renderTemplate("[{{empty}}]", inputs, "prompt")).toBe("[ ]");
    expect(renderTemplate("[{{empty}}]", inputs, "json")).toBe("[]");
  });

  it("splits a template into text and variable units, starting and ending with text", () => {
    const units = parseTemplate("{{output}}", new Set(["output"]));
    expect(units).toEqual([
      { kind: "text", text: "" },
      { kind: "var", raw: "output", name: "output", path: [] },
      { kind: "text", text: "" },
    ]);
    expect(parseTemplate("Hi {{x}} and {{y}}", new Set(["y"])).map((u) => u.kind)).toEqual(["text", "var", "text"]);
  });
});

describe("refs into the pool (spec §6.5, §12.3 item 22)", () => {
  const outputs: OutputSpec[] = [
    {
      name: "result",
      required: false,
      schema: {
        type: "array",
        items: {
          type: "object",
          properties: { title: { type: "string" }, meta: { type: "object", properties: { n: { type: "integer" } } } },
        },
      },
    },
    {
      name: "obj",
      required: false,
      schema: {
        type: "object",
        properties: { k: { type: "string" }, inner: { type: "object", properties: { z: { type: "integer" } } } },
      },
    },
    { name: "plain", required: false, schema: { type: "string", default: "dflt" } },
  ];
  const values = { result: [{ title: "a", meta: { n: 1 } }, { title: "b" }], obj: { k: "v" } };

  it("maps a key over an array of objects", () => {
    expect(resolveRefPath("n1", values, outputs, "result.title")).toEqual(["a", "b"]);
    expect(resolveRefPath("n1", values, outputs, "result.meta.n")).toEqual([1, 0]);
  });

  it("reads declared object keys, defaulting missing ones to their type default", () => {
    expect(resolveRefPath("n1", values, outputs, "obj.k")).toBe("v");
    expect(resolveRefPath("n1", values, outputs, "obj.inner")).toEqual({});
  });

  it("fails with 20600 on an undeclared key or output, and reads the declared default of an unset output", () => {
    expect(code(() => resolveRefPath("n1", values, outputs, "obj.undeclared"))).toBe(20600);
    expect(code(() => resolveRefPath("n1", values, outputs, "nothing"))).toBe(20600);
    expect(resolveRefPath("n1", values, outputs, "plain")).toBe("dflt");
    expect(resolveRefPath("n1", {}, outputs, "errorCode")).toBe(0);
  });
});

describe("literal coercion (spec §4.3 [new], §12.3 item 20)", () => {
  it("parses numbers, JSON and booleans by type, never by evaluation", () => {
    expect(coerceLiteral("123", "integer", "x")).toBe(123);
    expect(coerceLiteral(" 1.5 ", "number", "x")).toBe(1.5);
    expect(coerceLiteral("[1,2]", "array", "x")).toEqual([1, 2]);
    expect(coerceLiteral('{"a":1}', "object", "x")).toEqual({ a: 1 });
    expect(coerceLiteral("False", "boolean", "x")).toBe(false);
    expect(coerceLiteral("yes", "boolean", "x")).toBe(true);
    expect(coerceLiteral(7, "string", "x")).toBe("7");
  });

  it("rejects what does not convert with 20601", () => {
    for (const [v, t] of [
      ["__import__('os')", "integer"],
      ["1.5", "integer"],
      ["NaN", "number"],
      ["", "number"],
      ["{bad", "object"],
      ["[1]", "object"],
    ] as const) {
      expect(code(() => coerceLiteral(v, t, "node x input y"))).toBe(20601);
    }
  });

  it("knows the type defaults", () => {
    expect([
      typeDefault("string"),
      typeDefault("integer"),
      typeDefault("boolean"),
      typeDefault("array"),
      typeDefault("object"),
      typeDefault("x"),
    ]).toEqual(["", 0, false, [], {}, null]);
    expect(outputDefault({ type: "string", default: "d" })).toBe("d");
  });
});

describe("schemas (spec §4.4, §4.6, §6.5)", () => {
  const outputs: OutputSpec[] = [
    { name: "n", required: true, schema: { type: "integer" } },
    {
      name: "list",
      required: false,
      schema: { type: "array", items: { type: "object", properties: { t: { type: "string" } }, required: ["t"] } },
    },
  ];

  it("validates nested objects and arrays, integers excluding booleans and fractions", () => {
    expect(validateSchema(1, { type: "integer" })).toEqual([]);
    expect(validateSchema(true, { type: "integer" })).toHaveLength(1);
    expect(validateSchema(1.5, { type: "integer" })).toHaveLength(1);
    expect(validateSchema(2, { type: "number" })).toEqual([]);
    expect(validateSchema([{ t: "a" }, {}], outputs[1]?.schema ?? {})).toEqual(["$[1]: missing required field 't'"]);
  });

  it("fails a node's outputs with 20601 naming the node and the field", () => {
    expect(code(() => validateOutputs("code::1", { n: "seven" }, outputs))).toBe(20601);
    expect(code(() => validateOutputs("code::1", { list: [] }, outputs))).toBe(20601);
    expect(code(() => validateOutputs("code::1", { n: 7, list: [{ t: "x" }] }, outputs))).toBeUndefined();
  });

  it("checks customOutput: defaults for {}, no undeclared keys, matching types", () => {
    expect(checkCustomOutput("x", {}, outputs)).toEqual({ n: 0, list: [] });
    expect(code(() => checkCustomOutput("x", { n: 1, extra: 2 }, outputs))).toBe(22101);
    expect(code(() => checkCustomOutput("x", { n: true, list: [] }, outputs))).toBe(22101);
    expect(code(() => checkCustomOutput("x", { list: [] }, outputs))).toBe(22101);
    expect(checkCustomOutput("x", { n: 3, list: [{ t: "a" }] }, outputs)).toEqual({ n: 3, list: [{ t: "a" }] });
  });
});
