// JSON types, type defaults (spec §6.1 step 1) and literal coercion by typed parsing (§4.3 [new], §11 item 2,
// §12.3 item 20).
import { describe, expect, it } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import { coerceLiteral, deepClone, jsonType, outputDefault, typeDefault } from "../../src/engine/values.ts";
import { codeOf, messageOf } from "../support/errors.ts";

describe("jsonType", () => {
  it("names the JSON type, telling integers from other numbers", () => {
    expect(jsonType("x")).toBe("string");
    expect(jsonType("")).toBe("string");
    expect(jsonType(3)).toBe("integer");
    expect(jsonType(-0)).toBe("integer");
    expect(jsonType(2.0)).toBe("integer");
    expect(jsonType(2.5)).toBe("number");
    expect(jsonType([])).toBe("array");
    expect(jsonType({})).toBe("object");
    expect(jsonType(null)).toBe("null");
    expect(jsonType(undefined)).toBe("null");
  });

  it("never counts a boolean as a number", () => {
    expect(jsonType(true)).toBe("boolean");
    expect(jsonType(false)).toBe("boolean");
  });
});

describe("type defaults (spec §6.1 step 1)", () => {
  it("gives each declared type its default and null for an unknown type", () => {
    expect(typeDefault("string")).toBe("");
    expect(typeDefault("integer")).toBe(0);
    expect(typeDefault("number")).toBe(0);
    expect(typeDefault("boolean")).toBe(false);
    expect(typeDefault("array")).toEqual([]);
    expect(typeDefault("object")).toEqual({});
    expect(typeDefault("array-string")).toBeNull();
    expect(typeDefault("")).toBeNull();
    expect(typeDefault(undefined)).toBeNull();
  });

  it("returns a fresh array and object each time", () => {
    const a = typeDefault("array") as unknown[];
    a.push(1);
    expect(typeDefault("array")).toEqual([]);
    const o = typeDefault("object") as Record<string, unknown>;
    o.k = 1;
    expect(typeDefault("object")).toEqual({});
  });

  it("uses an output's schema default when it has one, else the type default", () => {
    expect(outputDefault({ type: "string", default: "d" })).toBe("d");
    expect(outputDefault({ type: "integer", default: 7 })).toBe(7);
    expect(outputDefault({ type: "integer" })).toBe(0);
    expect(outputDefault({ type: "object", default: null })).toBeNull();
    expect(outputDefault({ type: "boolean", default: undefined })).toBe(false);
    expect(outputDefault({})).toBeNull();
  });

  it("copies a schema default so a run cannot change the declared value", () => {
    const schema = { type: "object", default: { list: [1, 2] } };
    const v = outputDefault(schema) as { list: number[] };
    expect(v).toEqual({ list: [1, 2] });
    v.list.push(3);
    expect(schema.default).toEqual({ list: [1, 2] });
    expect(outputDefault(schema)).toEqual({ list: [1, 2] });
  });
});

describe("deepClone", () => {
  it("copies nested plain data and returns scalars as they are", () => {
    const src = { a: [1, { b: "x" }], c: null };
    const copy = deepClone(src);
    expect(copy).toEqual(src);
    expect(copy).not.toBe(src);
    expect(copy.a[1]).not.toBe(src.a[1]);
    expect(deepClone("s")).toBe("s");
    expect(deepClone(5)).toBe(5);
    expect(deepClone(null)).toBeNull();
  });
});

describe("literal coercion (spec §4.3 [new], §12.3 item 20)", () => {
  it('turns the literal "123" declared integer into the number 123', () => {
    expect(coerceLiteral("123", "integer", "node x input n")).toBe(123);
    expect(coerceLiteral(" 42 ", "integer", "w")).toBe(42);
    expect(coerceLiteral("-7", "integer", "w")).toBe(-7);
    expect(coerceLiteral("1e3", "integer", "w")).toBe(1000);
    expect(coerceLiteral("2.0", "integer", "w")).toBe(2);
  });

  it("rejects \"__import__('os')\" as an integer with 20601 instead of evaluating it", () => {
    expect(codeOf(() => coerceLiteral("__import__('os')", "integer", "node x input n"))).toBe(
      Codes.VARIABLE_POOL_SET_PARAMETER_ERROR,
    );
    expect(codeOf(() => coerceLiteral("__import__('os')", "number", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("__import__('os')", "array", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("__import__('os')", "object", "w"))).toBe(20601);
  });

  it("never evaluates an expression: arithmetic and code are not numbers, and have no side effect", () => {
    const g = globalThis as Record<string, unknown>;
    delete g.__coercePwned;
    expect(codeOf(() => coerceLiteral("1+1", "integer", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("(globalThis.__coercePwned = 1)", "number", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("(globalThis.__coercePwned = 1, [1])", "array", "w"))).toBe(20601);
    expect(g.__coercePwned).toBeUndefined();
  });

  it("parses numbers with Number() and rejects NaN, empty text and infinities", () => {
    expect(coerceLiteral("1.5", "number", "w")).toBe(1.5);
    expect(coerceLiteral(" -0.25 ", "number", "w")).toBe(-0.25);
    expect(coerceLiteral("10", "number", "w")).toBe(10);
    for (const bad of ["NaN", "", "   ", "Infinity", "-Infinity", "1,5", "12abc", "one"]) {
      expect(codeOf(() => coerceLiteral(bad, "number", "w"))).toBe(20601);
    }
  });

  it("requires an integral result for integers", () => {
    expect(codeOf(() => coerceLiteral("1.5", "integer", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral(2.5, "integer", "w"))).toBe(20601);
    expect(coerceLiteral(2.5, "number", "w")).toBe(2.5);
    expect(coerceLiteral(4, "number", "w")).toBe(4);
  });

  it("does not turn booleans, null, arrays or objects into numbers", () => {
    for (const bad of [true, false, null, [1], { n: 1 }]) {
      expect(codeOf(() => coerceLiteral(bad, "integer", "w"))).toBe(20601);
      expect(codeOf(() => coerceLiteral(bad, "number", "w"))).toBe(20601);
    }
  });

  it('makes only the strings "false"/"False" false for booleans; every other string is true', () => {
    expect(coerceLiteral("false", "boolean", "w")).toBe(false);
    expect(coerceLiteral("False", "boolean", "w")).toBe(false);
    expect(coerceLiteral("true", "boolean", "w")).toBe(true);
    expect(coerceLiteral("FALSE", "boolean", "w")).toBe(true);
    expect(coerceLiteral("0", "boolean", "w")).toBe(true);
    expect(coerceLiteral("", "boolean", "w")).toBe(true);
    expect(coerceLiteral(false, "boolean", "w")).toBe(false);
    expect(codeOf(() => coerceLiteral(0, "boolean", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral(null, "boolean", "w"))).toBe(20601);
  });

  it("parses arrays and objects with JSON.parse and checks the parsed type", () => {
    expect(coerceLiteral('[1, "a"]', "array", "w")).toEqual([1, "a"]);
    expect(coerceLiteral('{"a": {"b": 1}}', "object", "w")).toEqual({ a: { b: 1 } });
    expect(codeOf(() => coerceLiteral("{bad", "object", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("[1]", "object", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral('{"a":1}', "array", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("null", "object", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral("['a']", "array", "w"))).toBe(20601);
    expect(codeOf(() => coerceLiteral(5, "array", "w"))).toBe(20601);
  });

  it("keeps a literal whose JSON type already matches", () => {
    const arr = [1, 2];
    const obj = { a: 1 };
    expect(coerceLiteral(arr, "array", "w")).toBe(arr);
    expect(coerceLiteral(obj, "object", "w")).toBe(obj);
    expect(coerceLiteral("text", "string", "w")).toBe("text");
    expect(coerceLiteral(true, "boolean", "w")).toBe(true);
    expect(coerceLiteral(9, "integer", "w")).toBe(9);
  });

  it("accepts any scalar as a string, and arrays/objects as JSON text", () => {
    expect(coerceLiteral(7, "string", "w")).toBe("7");
    expect(coerceLiteral(1.5, "string", "w")).toBe("1.5");
    expect(coerceLiteral(true, "string", "w")).toBe("true");
    expect(coerceLiteral(false, "string", "w")).toBe("false");
    expect(coerceLiteral({ a: [1, "中"] }, "string", "w")).toBe('{"a":[1,"中"]}');
    expect(coerceLiteral([1, 2], "string", "w")).toBe("[1,2]");
    expect(codeOf(() => coerceLiteral(null, "string", "w"))).toBe(20601);
  });

  it("leaves literals of a type that is not one of the value types alone", () => {
    const v = ["a"];
    expect(coerceLiteral(v, "array-string", "w")).toBe(v);
    expect(coerceLiteral("x", "", "w")).toBe("x");
  });

  it("names where the literal is and the target type in the error", () => {
    const text = messageOf(() => coerceLiteral("abc", "integer", "node spark-llm::1 input n"));
    expect(text).toContain("node spark-llm::1 input n");
    expect(text).toContain("integer");
    expect(text).toContain('"abc"');
  });
});
