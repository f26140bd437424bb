// The draft-07 subset validator (spec §4.4, §5.1, §6.5) and the customOutput check of retryConfig (§4.6).
import { describe, expect, it } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import { checkCustomOutput, outputsSchema, validateOutputs, validateSchema } from "../../src/engine/schema.ts";
import type { JsonSchema, OutputSpec } from "../../src/engine/types.ts";
import { caught } from "../support/errors.ts";

function out(name: string, schema: JsonSchema, required = false): OutputSpec {
  return { name, schema, required };
}

describe("validateSchema: types", () => {
  it("accepts each JSON type for its own name", () => {
    expect(validateSchema("s", { type: "string" })).toEqual([]);
    expect(validateSchema(true, { type: "boolean" })).toEqual([]);
    expect(validateSchema(3, { type: "integer" })).toEqual([]);
    expect(validateSchema(3.5, { type: "number" })).toEqual([]);
    expect(validateSchema([], { type: "array" })).toEqual([]);
    expect(validateSchema({}, { type: "object" })).toEqual([]);
    expect(validateSchema(null, { type: "null" })).toEqual([]);
  });

  it("excludes booleans and fractions from integer, and lets number accept integers", () => {
    expect(validateSchema(true, { type: "integer" })).toEqual(["$: expected integer, got boolean"]);
    expect(validateSchema(1.5, { type: "integer" })).toEqual(["$: expected integer, got number"]);
    expect(validateSchema(false, { type: "number" })).toEqual(["$: expected number, got boolean"]);
    expect(validateSchema(2, { type: "number" })).toEqual([]);
    expect(validateSchema(2.0, { type: "integer" })).toEqual([]);
  });

  it("tells arrays, objects and null apart", () => {
    expect(validateSchema([], { type: "object" })).toEqual(["$: expected object, got array"]);
    expect(validateSchema({}, { type: "array" })).toEqual(["$: expected array, got object"]);
    expect(validateSchema(null, { type: "object" })).toEqual(["$: expected object, got null"]);
    expect(validateSchema("1", { type: "integer" })).toEqual(["$: expected integer, got string"]);
  });

  it("accepts any type of a type list", () => {
    const schema = { type: ["string", "null"] } as unknown as JsonSchema;
    expect(validateSchema("a", schema)).toEqual([]);
    expect(validateSchema(null, schema)).toEqual([]);
    expect(validateSchema(1, schema)).toEqual(["$: expected string or null, got integer"]);
  });

  it("imposes no constraint for an empty type, a biz type or no type", () => {
    for (const v of ["x", 1, true, [1], { a: 1 }, null]) {
      expect(validateSchema(v, { type: "" })).toEqual([]);
      expect(validateSchema(v, { type: "array-string" })).toEqual([]);
      expect(validateSchema(v, { type: ["integer", "array-object"] } as unknown as JsonSchema)).toEqual([]);
      expect(validateSchema(v, {})).toEqual([]);
    }
  });

  it("names the path of the failing value", () => {
    expect(validateSchema({ score: "high" }, { type: "object", properties: { score: { type: "integer" } } })).toEqual([
      "$.score: expected integer, got string",
    ]);
    expect(validateSchema(1, { type: "string" }, "name")).toEqual(["name: expected string, got integer"]);
  });
});

describe("validateSchema: objects and arrays", () => {
  const person: JsonSchema = {
    type: "object",
    properties: {
      name: { type: "string" },
      age: { type: "integer" },
      tags: { type: "array", items: { type: "string" } },
      address: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
    required: ["name"],
  };

  it("accepts a value matching nested objects and arrays", () => {
    expect(validateSchema({ name: "a", age: 3, tags: ["x", "y"], address: { city: "c" } }, person)).toEqual([]);
  });

  it("reports missing required fields at their object's path", () => {
    expect(validateSchema({}, { type: "object", required: ["AGENT_USER_INPUT"] })).toEqual([
      "$: missing required field 'AGENT_USER_INPUT'",
    ]);
    expect(validateSchema({ name: "a", address: {} }, person)).toEqual(["$.address: missing required field 'city'"]);
  });

  it("counts a field whose value is undefined, or inherited, as missing", () => {
    expect(validateSchema({ name: undefined }, person)).toEqual(["$: missing required field 'name'"]);
    expect(validateSchema({}, { type: "object", required: ["constructor", "toString"] })).toHaveLength(2);
  });

  it("checks array items with their index in the path", () => {
    expect(validateSchema({ name: "a", tags: ["x", 2, "z", false] }, person)).toEqual([
      "$.tags[1]: expected string, got integer",
      "$.tags[3]: expected string, got boolean",
    ]);
    const list: JsonSchema = {
      type: "array",
      items: { type: "object", properties: { t: { type: "string" } }, required: ["t"] },
    };
    expect(validateSchema([{ t: "a" }, {}, { t: 1 }], list)).toEqual([
      "$[1]: missing required field 't'",
      "$[2].t: expected string, got integer",
    ]);
  });

  it("reports every failure, and nothing for a valid value", () => {
    const errors = validateSchema({ name: 1, age: "x", address: { city: 2 } }, person);
    expect(errors).toEqual([
      "$.name: expected string, got integer",
      "$.age: expected integer, got string",
      "$.address.city: expected string, got integer",
    ]);
  });

  it("allows undeclared fields unless additionalProperties forbids or constrains them", () => {
    expect(validateSchema({ name: "a", extra: 1 }, person)).toEqual([]);
    const closed: JsonSchema = { type: "object", properties: { a: { type: "string" } }, additionalProperties: false };
    expect(validateSchema({ a: "x", b: 1 }, closed)).toEqual(["$: unexpected field 'b'"]);
    const typed: JsonSchema = {
      type: "object",
      properties: { a: { type: "string" } },
      additionalProperties: { type: "integer" },
    };
    expect(validateSchema({ a: "x", b: 1 }, typed)).toEqual([]);
    expect(validateSchema({ a: "x", b: "y" }, typed)).toEqual(["$.b: expected integer, got string"]);
    expect(validateSchema({ a: "x", b: "y" }, { type: "object", additionalProperties: true })).toEqual([]);
  });

  it("treats keys such as 'constructor' as plain data, not as inherited schemas", () => {
    const schema: JsonSchema = { type: "object", properties: { a: { type: "string" } }, additionalProperties: false };
    expect(validateSchema({ a: "x", constructor: 1 }, schema)).toEqual(["$: unexpected field 'constructor'"]);
    expect(
      validateSchema({ constructor: 1, toString: "x" }, { type: "object", properties: { a: { type: "string" } } }),
    ).toEqual([]);
  });
});

describe("validateSchema: value keywords", () => {
  it("checks enum and const by JSON equality", () => {
    expect(validateSchema("b", { enum: ["a", "b"] })).toEqual([]);
    expect(validateSchema("c", { enum: ["a", "b"] })).toEqual(['$: must be one of ["a","b"]']);
    expect(validateSchema({ y: 2, x: 1 }, { const: { x: 1, y: 2 } })).toEqual([]);
    expect(validateSchema([1, 2], { const: [1, 2] })).toEqual([]);
    expect(validateSchema([2, 1], { const: [1, 2] })).toHaveLength(1);
    expect(validateSchema(true, { enum: [1] })).toHaveLength(1);
    expect(validateSchema(1, { const: true })).toHaveLength(1);
    expect(validateSchema({ x: 1 }, { const: { x: 1, y: 2 } })).toHaveLength(1);
  });

  it("checks string lengths in characters (code points)", () => {
    expect(validateSchema("ab", { type: "string", minLength: 3 })).toEqual(["$: must have at least 3 characters"]);
    expect(validateSchema("abcd", { type: "string", maxLength: 3 })).toEqual(["$: must have at most 3 characters"]);
    expect(validateSchema("😀", { maxLength: 1 })).toEqual([]);
    expect(validateSchema("中文", { minLength: 2, maxLength: 2 })).toEqual([]);
  });

  it("checks numeric bounds", () => {
    expect(validateSchema(5, { minimum: 5, maximum: 5 })).toEqual([]);
    expect(validateSchema(4, { minimum: 5 })).toEqual(["$: must be >= 5"]);
    expect(validateSchema(6.5, { maximum: 6 })).toEqual(["$: must be <= 6"]);
    expect(validateSchema(5, { exclusiveMinimum: 5 })).toEqual(["$: must be > 5"]);
  });

  it("checks array sizes", () => {
    expect(validateSchema([], { type: "array", minItems: 1 })).toEqual(["$: must have at least 1 items"]);
    expect(validateSchema([1, 2, 3], { type: "array", maxItems: 2 })).toEqual(["$: must have at most 2 items"]);
    expect(validateSchema([1], { type: "array", minItems: 1, maxItems: 1 })).toEqual([]);
  });

  it("ignores keywords it does not know, and keywords that do not apply to the value's type", () => {
    expect(validateSchema("x", { type: "string", format: "email", pattern: "^\\d+$", description: "d" })).toEqual([]);
    expect(validateSchema(3, { minLength: 10, minItems: 10, required: ["a"] })).toEqual([]);
    expect(validateSchema("abc", { minimum: 10 })).toEqual([]);
  });

  it("does not modify the schema or the value", () => {
    const schema: JsonSchema = {
      type: "object",
      properties: { a: { type: "array", items: { type: "integer" } } },
      required: ["a"],
    };
    const value = { a: [1, "x"] };
    const before = JSON.stringify([schema, value]);
    validateSchema(value, schema);
    expect(JSON.stringify([schema, value])).toBe(before);
  });
});

describe("outputs (spec §5.1, §6.5 writing outputs)", () => {
  const outputs: OutputSpec[] = [
    out("n", { type: "integer" }, true),
    out("list", { type: "array", items: { type: "object", properties: { t: { type: "string" } }, required: ["t"] } }),
    out("label", { type: "string" }),
  ];

  it("builds the object schema of the declared outputs", () => {
    expect(outputsSchema(outputs)).toEqual({
      type: "object",
      properties: { n: { type: "integer" }, list: outputs[1]?.schema, label: { type: "string" } },
      required: ["n"],
    });
    expect(outputsSchema([])).toEqual({ type: "object", properties: {}, required: [] });
  });

  it("accepts produced outputs that match, with optional ones absent and undeclared keys ignored", () => {
    expect(caught(() => validateOutputs("code::1", { n: 7 }, outputs))).toBeUndefined();
    expect(
      caught(() => validateOutputs("code::1", { n: 7, list: [{ t: "x" }], label: "l", other: { any: true } }, outputs)),
    ).toBeUndefined();
  });

  it("fails with 20601 naming the node and the field", () => {
    const e = caught(() => validateOutputs("code::1", { n: "seven" }, outputs));
    expect(e?.code).toBe(Codes.VARIABLE_POOL_SET_PARAMETER_ERROR);
    expect(e?.message).toContain("code::1: $.n: expected integer, got string");
  });

  it("fails when a required output is missing or undefined", () => {
    expect(caught(() => validateOutputs("code::1", { list: [] }, outputs))?.message).toContain(
      "code::1: $: missing required field 'n'",
    );
    expect(caught(() => validateOutputs("code::1", { n: undefined }, outputs))?.code).toBe(20601);
  });

  it("checks nested items of produced outputs and a boolean never passes as an integer", () => {
    expect(caught(() => validateOutputs("c", { n: 1, list: [{ t: "a" }, { t: 2 }] }, outputs))?.message).toContain(
      "$.list[1].t: expected string, got integer",
    );
    expect(caught(() => validateOutputs("c", { n: true }, outputs))?.code).toBe(20601);
  });

  it("joins the first errors with '; '", () => {
    const many: OutputSpec[] = ["a", "b", "c", "d", "e"].map((n) => out(n, { type: "string" }));
    const e = caught(() => validateOutputs("x", { a: 1, b: 2, c: 3, d: 4, e: 5 }, many));
    expect(e?.message).toContain(
      "x: $.a: expected string, got integer; $.b: expected string, got integer; $.c: expected string, got integer",
    );
    expect(e?.message).not.toContain("$.d");
  });

  it("accepts anything when no output is declared", () => {
    expect(caught(() => validateOutputs("x", { whatever: Symbol.iterator }, []))).toBeUndefined();
  });

  it("agrees with validating the produced map against outputsSchema", () => {
    const samples: Record<string, unknown>[] = [
      { n: 1 },
      {},
      { n: 1.5 },
      { n: 2, list: "no" },
      { n: 2, list: [{}] },
      { n: 2, label: null },
      { n: 0, list: [{ t: "" }], label: "" },
    ];
    const schema = outputsSchema(outputs);
    for (const s of samples) {
      const viaSchema = validateSchema(s, schema).length === 0;
      const viaOutputs = caught(() => validateOutputs("x", s, outputs)) === undefined;
      expect(viaOutputs).toBe(viaSchema);
    }
  });
});

describe("customOutput (spec §4.6)", () => {
  const outputs: OutputSpec[] = [
    out("output", { type: "string" }),
    out("count", { type: "integer" }),
    out("ratio", { type: "number" }),
    out("ok", { type: "boolean" }),
    out("items", { type: "array", items: { type: "integer" } }),
    out("meta", { type: "object", properties: { k: { type: "string" } } }),
  ];

  it("replaces {} by the per-output defaults: schema default, else type default, in declaration order", () => {
    const withDefault = [
      ...outputs,
      out("tag", { type: "string", default: "T" }),
      out("free", { type: "array-string" }),
    ];
    const filled = checkCustomOutput("n", {}, withDefault);
    expect(filled).toEqual({ output: "", count: 0, ratio: 0, ok: false, items: [], meta: {}, tag: "T", free: null });
    expect(Object.keys(filled)).toEqual(["output", "count", "ratio", "ok", "items", "meta", "tag", "free"]);
    expect(checkCustomOutput("n", {}, [])).toEqual({});
  });

  it("copies schema defaults into the filled map", () => {
    const schema: JsonSchema = { type: "array", default: [1] };
    const filled = checkCustomOutput("n", {}, [out("a", schema)]);
    (filled.a as number[]).push(2);
    expect(schema.default).toEqual([1]);
  });

  it("returns a complete customOutput whose types match", () => {
    const custom = { output: "x", count: 3, ratio: 0.5, ok: true, items: [1, 2], meta: { k: "v", extra: 1 } };
    expect(checkCustomOutput("n", custom, outputs)).toEqual(custom);
    expect(checkCustomOutput("n", { ...custom, ratio: 2 }, outputs).ratio).toBe(2);
  });

  it("rejects keys beyond the declared outputs with 22101", () => {
    const e = caught(() =>
      checkCustomOutput("n", { output: "x", count: 1, ratio: 1, ok: true, items: [], meta: {}, extra: 1 }, outputs),
    );
    expect(e?.code).toBe(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR);
    expect(caught(() => checkCustomOutput("n", { errorCode: 1 }, [out("output", { type: "string" })]))?.code).toBe(
      22101,
    );
  });

  it("requires every declared output without a schema default, and fills those with one", () => {
    const declared = [out("output", { type: "string" }), out("score", { type: "integer", default: 5 })];
    expect(checkCustomOutput("n", { output: "x" }, declared)).toEqual({ output: "x", score: 5 });
    expect(caught(() => checkCustomOutput("n", { score: 1 }, declared))?.code).toBe(22101);
  });

  it("checks JSON types: integer excludes booleans and fractions, number excludes booleans", () => {
    const one = (name: string, type: string, v: unknown) =>
      caught(() => checkCustomOutput("n", { [name]: v }, [out(name, { type })]))?.code;
    expect(one("a", "integer", true)).toBe(22101);
    expect(one("a", "integer", 1.5)).toBe(22101);
    expect(one("a", "integer", "1")).toBe(22101);
    expect(one("a", "number", false)).toBe(22101);
    expect(one("a", "string", 1)).toBe(22101);
    expect(one("a", "boolean", "true")).toBe(22101);
    expect(one("a", "array", {})).toBe(22101);
    expect(one("a", "object", [])).toBe(22101);
    expect(one("a", "string", null)).toBe(22101);
    expect(one("a", "integer", 4)).toBeUndefined();
    expect(one("a", "array-string", 4)).toBeUndefined();
  });

  it("checks array item types, also in nested arrays, and declared property types", () => {
    const items = [out("a", { type: "array", items: { type: "integer" } })];
    expect(caught(() => checkCustomOutput("n", { a: [1, "2"] }, items))?.code).toBe(22101);
    expect(caught(() => checkCustomOutput("n", { a: [1, true] }, items))?.code).toBe(22101);
    const nested = [out("m", { type: "array", items: { type: "array", items: { type: "string" } } })];
    expect(checkCustomOutput("n", { m: [["a"], []] }, nested)).toEqual({ m: [["a"], []] });
    expect(caught(() => checkCustomOutput("n", { m: [["a", 1]] }, nested))?.code).toBe(22101);
    const objs = [out("o", { type: "array", items: { type: "object", properties: { t: { type: "string" } } } })];
    expect(caught(() => checkCustomOutput("n", { o: [{ t: 1 }] }, objs))?.code).toBe(22101);
    expect(checkCustomOutput("n", { o: [{}] }, objs)).toEqual({ o: [{}] });
  });

  it("uses the spec's message, with the node and the reason", () => {
    const e = caught(() => checkCustomOutput("node ifly-code::1", { output: 1 }, [out("output", { type: "string" })]));
    expect(e?.message).toContain('Node set output content: {"output":1} does not match format');
    expect(e?.message).toContain("node ifly-code::1");
  });
});
