// Templates and placeholders (spec §4.7, §12.3 item 21).
import { describe, expect, it } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import {
  compactJson,
  parseTemplate,
  pythonJson,
  readPath,
  renderTemplate,
  renderValue,
} from "../../src/engine/template.ts";
import { caught } from "../support/errors.ts";

const inputs = {
  a: { b: "deep", n: 3, inner: { c: [10, 20] } },
  arr: ["x", "y", "z"],
  list: [{ title: "t0" }, { title: "t1", tags: ["p", "q"] }],
  s: "plain",
  empty: "",
  nothing: null,
  zero: 0,
  no: false,
  emptyList: [],
  emptyObj: {},
  "my-var_2": "dash",
};

describe("rendering placeholders (spec §12.3 item 21)", () => {
  it("reads {{a.b}} from an object input", () => {
    expect(renderTemplate("value: {{a.b}}", inputs)).toBe("value: deep");
  });

  it("reads {{arr[1]}} from an array input", () => {
    expect(renderTemplate("{{arr[1]}}", inputs)).toBe("y");
  });

  it("leaves {{missing}} verbatim when it is not an input", () => {
    expect(renderTemplate("Hi {{missing}}!", inputs)).toBe("Hi {{missing}}!");
    expect(renderTemplate("{{missing.a}} {{missing[0]}}", inputs)).toBe("{{missing.a}} {{missing[0]}}");
  });

  it("leaves {{ name }} with spaces and other {{…}} text verbatim", () => {
    expect(renderTemplate("{{ s }}|{{s }}|{{ s}}", inputs)).toBe("{{ s }}|{{s }}|{{ s}}");
    expect(renderTemplate("{{a..b}} {{a.}} {{.a}} {{}} {{a b}} {{a.b!}} {{arr[x]}} {{arr[1}}", inputs)).toBe(
      "{{a..b}} {{a.}} {{.a}} {{}} {{a b}} {{a.b!}} {{arr[x]}} {{arr[1}}",
    );
  });

  it("fails with 20602 naming the placeholder when an index is out of range", () => {
    const e = caught(() => renderTemplate("{{arr[3]}}", inputs));
    expect(e?.code).toBe(Codes.VARIABLE_PARSE_ERROR);
    expect(e?.message).toContain("arr[3]");
    expect(caught(() => renderTemplate("{{arr[-4]}}", inputs))?.code).toBe(20602);
    expect(caught(() => renderTemplate("{{emptyList[0]}}", inputs))?.code).toBe(20602);
  });

  it("replaces a placeholder whose .key is applied to a non-object by its inner text", () => {
    expect(renderTemplate("[{{s.key}}]", inputs)).toBe("[s.key]");
    expect(renderTemplate("[{{arr.key}}]", inputs)).toBe("[arr.key]");
    expect(renderTemplate("[{{a.b.c}}]", inputs)).toBe("[a.b.c]");
    expect(renderTemplate("[{{nothing.k}}]", inputs)).toBe("[nothing.k]");
    expect(renderTemplate("[{{a[0]}}]", inputs)).toBe("[a[0]]");
    expect(renderTemplate("[{{s[0]}}]", inputs)).toBe("[s[0]]");
  });

  it("renders a missing object key as null", () => {
    expect(renderTemplate("{{a.nope}}", inputs)).toBe("null");
    expect(renderTemplate("{{a.constructor}}", inputs)).toBe("null");
    expect(renderTemplate("{{a.nope}}", inputs, "prompt")).toBe(" ");
  });

  it("combines keys and indexes, with negative indexes counting from the end", () => {
    expect(
      renderTemplate("{{list[1].title}}|{{arr[-1]}}|{{arr[-3]}}|{{list[-1].tags[0]}}|{{a.inner.c[-1]}}", inputs),
    ).toBe("t1|z|x|p|20");
  });

  it("accepts names with dashes, underscores and digits", () => {
    expect(renderTemplate("{{my-var_2}}", inputs)).toBe("dash");
  });

  it("renders non-strings as JSON with Python spacing", () => {
    expect(renderTemplate("{{a}}", inputs)).toBe('{"b": "deep", "n": 3, "inner": {"c": [10, 20]}}');
    expect(renderTemplate("{{arr}} {{zero}} {{no}} {{nothing}}", inputs)).toBe('["x", "y", "z"] 0 false null');
  });

  it("keeps the braces around a placeholder inside extra braces", () => {
    expect(renderTemplate("{{{s}}}", inputs)).toBe("{plain}");
  });

  it("substitutes every occurrence and leaves the rest of the text alone", () => {
    expect(renderTemplate("{{s}}-{{s}}-{{missing}}-{{s}}", inputs)).toBe("plain-plain-{{missing}}-plain");
    expect(renderTemplate("no placeholders { } {{", inputs)).toBe("no placeholders { } {{");
    expect(renderTemplate("", inputs)).toBe("");
  });

  it("renders empty values as one space in prompt mode only", () => {
    const t = "[{{empty}}|{{nothing}}|{{emptyList}}|{{emptyObj}}|{{zero}}|{{no}}|{{s}}]";
    expect(renderTemplate(t, inputs, "prompt")).toBe("[ | | | |0|false|plain]");
    expect(renderTemplate(t, inputs, "json")).toBe("[|null|[]|{}|0|false|plain]");
    expect(renderTemplate(t, inputs)).toBe("[|null|[]|{}|0|false|plain]");
  });
});

describe("parseTemplate", () => {
  it('splits "{{output}}" into an empty text, the variable and an empty text', () => {
    expect(parseTemplate("{{output}}", new Set(["output"]))).toEqual([
      { kind: "text", text: "" },
      { kind: "var", raw: "output", name: "output", path: [] },
      { kind: "text", text: "" },
    ]);
  });

  it("alternates text and variables, keeping non-input placeholders inside the text", () => {
    const units = parseTemplate("Hi {{x}} and {{y}}{{y}}, {{ y }}", new Set(["y"]));
    expect(units).toEqual([
      { kind: "text", text: "Hi {{x}} and " },
      { kind: "var", raw: "y", name: "y", path: [] },
      { kind: "text", text: "" },
      { kind: "var", raw: "y", name: "y", path: [] },
      { kind: "text", text: ", {{ y }}" },
    ]);
  });

  it("returns one text unit when nothing is an input", () => {
    expect(parseTemplate("plain {{x}}", new Set())).toEqual([{ kind: "text", text: "plain {{x}}" }]);
    expect(parseTemplate("", new Set(["x"]))).toEqual([{ kind: "text", text: "" }]);
  });

  it("parses the path: indexes on the first segment, then keys and indexes", () => {
    const [, arr] = parseTemplate("{{arr[1]}}", new Set(["arr"]));
    expect(arr).toEqual({ kind: "var", raw: "arr[1]", name: "arr", path: [{ index: 1 }] });
    const [, deep] = parseTemplate("{{list[0].title[-2][3].x}}", new Set(["list"]));
    expect(deep).toEqual({
      kind: "var",
      raw: "list[0].title[-2][3].x",
      name: "list",
      path: [{ index: 0 }, { key: "title" }, { index: -2 }, { index: 3 }, { key: "x" }],
    });
  });

  it("caches parses per template and input names, and the cached units cannot be changed", () => {
    const names = new Set(["a"]);
    const first = parseTemplate("x {{a}} y", names);
    expect(parseTemplate("x {{a}} y", new Set(["a"]))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => (first as unknown[]).push(1)).toThrow();
    const other = parseTemplate("x {{a}} y", new Set(["b"]));
    expect(other).toEqual([{ kind: "text", text: "x {{a}} y" }]);
  });

  it("stays correct when more templates are parsed than the cache holds", () => {
    for (let i = 0; i < 2100; i++) {
      const units = parseTemplate(`t${i} {{v}}`, new Set(["v"]));
      expect(units).toHaveLength(3);
    }
    expect(parseTemplate("t0 {{v}}", new Set(["v"]))[0]).toEqual({ kind: "text", text: "t0 " });
  });
});

describe("readPath", () => {
  it("walks keys and indexes", () => {
    expect(readPath({ a: [{ b: 1 }] }, [{ key: "a" }, { index: 0 }, { key: "b" }], "r")).toEqual({
      found: true,
      value: 1,
    });
    expect(readPath("v", [], "r")).toEqual({ found: true, value: "v" });
  });

  it("yields null for a missing key, own keys only", () => {
    expect(readPath({}, [{ key: "k" }], "r")).toEqual({ found: true, value: null });
    expect(readPath({}, [{ key: "toString" }], "r")).toEqual({ found: true, value: null });
    expect(readPath({ k: null }, [{ key: "k" }], "r")).toEqual({ found: true, value: null });
  });

  it("cannot read a key of a non-object or an index of a non-array", () => {
    expect(readPath("s", [{ key: "k" }], "r")).toEqual({ found: false });
    expect(readPath([1], [{ key: "k" }], "r")).toEqual({ found: false });
    expect(readPath(null, [{ key: "k" }], "r")).toEqual({ found: false });
    expect(readPath({ 0: "x" }, [{ index: 0 }], "r")).toEqual({ found: false });
    expect(readPath("abc", [{ index: 0 }], "r")).toEqual({ found: false });
  });

  it("counts negative indexes from the end and fails out of range with 20602", () => {
    expect(readPath([1, 2, 3], [{ index: -1 }], "r")).toEqual({ found: true, value: 3 });
    expect(readPath([1, 2, 3], [{ index: -3 }], "r")).toEqual({ found: true, value: 1 });
    expect(caught(() => readPath([1, 2, 3], [{ index: 3 }], "arr[3]"))?.code).toBe(20602);
    expect(caught(() => readPath([1, 2, 3], [{ index: -4 }], "arr[-4]"))?.message).toContain("arr[-4]");
  });
});

describe("value rendering", () => {
  it("renders strings as they are and everything else as Python-spaced JSON", () => {
    expect(renderValue('a "q"', "json")).toBe('a "q"');
    expect(renderValue({ a: 1, b: [1, 2] }, "json")).toBe('{"a": 1, "b": [1, 2]}');
    expect(renderValue([], "json")).toBe("[]");
    expect(renderValue({}, "json")).toBe("{}");
    expect(renderValue(null, "json")).toBe("null");
    expect(renderValue(1.5, "json")).toBe("1.5");
    expect(renderValue(true, "json")).toBe("true");
  });

  it("keeps non-ASCII text raw and escapes what JSON must escape", () => {
    expect(renderValue(["中", "é", "😀"], "json")).toBe('["中", "é", "😀"]');
    expect(renderValue({ 键: 'a"b\\c\nd' }, "json")).toBe('{"键": "a\\"b\\\\c\\nd"}');
  });

  it("drops undefined object fields and writes undefined array items as null", () => {
    expect(pythonJson({ a: undefined, b: 1 })).toBe('{"b": 1}');
    expect(pythonJson([undefined, 1])).toBe("[null, 1]");
  });

  it("renders empty values as one space in prompt mode, other values as in json mode", () => {
    for (const v of ["", null, [], {}]) expect(renderValue(v, "prompt")).toBe(" ");
    expect(renderValue(0, "prompt")).toBe("0");
    expect(renderValue(false, "prompt")).toBe("false");
    expect(renderValue(" ", "prompt")).toBe(" ");
    expect(renderValue({ a: [] }, "prompt")).toBe('{"a": []}');
  });

  it("writes compact JSON with non-ASCII raw for the variable-mode answer", () => {
    expect(compactJson({ joined: "" })).toBe('{"joined":""}');
    expect(compactJson({ a: ["中", 1], b: null })).toBe('{"a":["中",1],"b":null}');
    expect(compactJson(undefined)).toBe("null");
  });
});
