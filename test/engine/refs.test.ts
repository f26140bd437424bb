// Reading a ref input from the variable pool through the referenced node's declared schema (spec §6.5, §4.4,
// §12.3 item 22).
import { describe, expect, it } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import { resolveRefPath, resolveRefSegments, splitRefPath } from "../../src/engine/refs.ts";
import type { OutputSpec } from "../../src/engine/types.ts";
import { caught } from "../support/errors.ts";

const outputs: OutputSpec[] = [
  {
    name: "result",
    required: false,
    schema: {
      type: "array",
      items: {
        type: "object",
        properties: {
          title: { type: "string" },
          score: { type: "integer" },
          meta: {
            type: "object",
            properties: { n: { type: "integer" }, tags: { type: "array", items: { type: "string" } } },
          },
          links: { type: "array", items: { type: "object", properties: { url: { type: "string" } } } },
        },
      },
    },
  },
  {
    name: "obj",
    required: false,
    schema: {
      type: "object",
      properties: {
        k: { type: "string" },
        inner: { type: "object", properties: { z: { type: "integer" } } },
        flag: { type: "boolean" },
      },
    },
  },
  { name: "plain", required: false, schema: { type: "string", default: "dflt" } },
  { name: "count", required: false, schema: { type: "integer" } },
  {
    name: "matrix",
    required: false,
    schema: {
      type: "array",
      items: { type: "array", items: { type: "object", properties: { v: { type: "integer" } } } },
    },
  },
  { name: "free", required: false, schema: { type: "object" } },
  {
    name: "listDefault",
    required: false,
    schema: {
      type: "array",
      default: [{ title: "d" }],
      items: { type: "object", properties: { title: { type: "string" } } },
    },
  },
];

const values = {
  result: [
    { title: "a", score: 1, meta: { n: 1, tags: ["x"] }, links: [{ url: "u1" }, { url: "u2" }] },
    { title: "b", meta: {} },
    "not an object",
  ],
  obj: { k: "v", flag: false },
  count: 0,
  matrix: [[{ v: 1 }]],
  free: { anything: 1 },
  system: { nested: 1 },
};

describe("ref paths through an array of objects (spec §12.3 item 22)", () => {
  it("yields the array of titles for result.title", () => {
    expect(resolveRefPath("llm::1", values, outputs, "result.title")).toEqual(["a", "b", ""]);
  });

  it("fills an item's missing key, or a non-object item, with the type default of the declared property", () => {
    expect(resolveRefPath("n", values, outputs, "result.score")).toEqual([1, 0, 0]);
  });

  it("keeps mapping for deeper segments", () => {
    expect(resolveRefPath("n", values, outputs, "result.meta.n")).toEqual([1, 0, 0]);
    expect(resolveRefPath("n", values, outputs, "result.meta")).toEqual([{ n: 1, tags: ["x"] }, {}, {}]);
  });

  it("stops at an array whose items are not objects and returns the current value", () => {
    expect(resolveRefPath("n", values, outputs, "result.links")).toEqual([[{ url: "u1" }, { url: "u2" }], [], []]);
    expect(resolveRefPath("n", values, outputs, "result.links.url")).toEqual([[{ url: "u1" }, { url: "u2" }], [], []]);
    expect(resolveRefPath("n", values, outputs, "matrix.v")).toEqual([[{ v: 1 }]]);
  });

  it("fails with 20600 on a key the items do not declare", () => {
    const e = caught(() => resolveRefPath("llm::1", values, outputs, "result.nope"));
    expect(e?.code).toBe(Codes.VARIABLE_POOL_GET_PARAMETER_ERROR);
    expect(e?.message).toContain("Node llm::1 does not have value nope");
    expect(caught(() => resolveRefPath("n", values, outputs, "result.meta.missing"))?.code).toBe(20600);
  });

  it("maps over an unset output's default, and over nothing when the value is not an array", () => {
    expect(resolveRefPath("n", {}, outputs, "listDefault.title")).toEqual(["d"]);
    expect(resolveRefPath("n", {}, outputs, "result.title")).toEqual([]);
    expect(resolveRefPath("n", { result: "oops" }, outputs, "result.title")).toEqual([]);
  });

  it("builds a new array and leaves the pool value alone", () => {
    const pool = { result: [{ title: "a" }] };
    const titles = resolveRefPath("n", pool, outputs, "result.title") as string[];
    titles.push("z");
    expect(pool.result).toEqual([{ title: "a" }]);
  });
});

describe("ref paths through objects", () => {
  it("reads a declared key", () => {
    expect(resolveRefPath("n", values, outputs, "obj.k")).toBe("v");
    expect(resolveRefPath("n", values, outputs, "obj.flag")).toBe(false);
  });

  it("gives a declared but missing key the type default of its declared type", () => {
    expect(resolveRefPath("n", values, outputs, "obj.inner")).toEqual({});
    expect(resolveRefPath("n", values, outputs, "obj.inner.z")).toBe(0);
    expect(resolveRefPath("n", { obj: null }, outputs, "obj.k")).toBe("");
  });

  it("fails with 20600 on a key the schema does not declare, inherited names included", () => {
    const e = caught(() => resolveRefPath("code::2", values, outputs, "obj.undeclared"));
    expect(e?.code).toBe(20600);
    expect(e?.message).toContain("Node code::2 does not have value undeclared");
    expect(caught(() => resolveRefPath("n", values, outputs, "obj.constructor"))?.code).toBe(20600);
    expect(caught(() => resolveRefPath("n", values, outputs, "free.anything"))?.code).toBe(20600);
  });

  it("returns a scalar output as it is when more segments follow", () => {
    expect(resolveRefPath("n", values, outputs, "plain.x")).toBe("dflt");
    expect(resolveRefPath("n", values, outputs, "count.x.y")).toBe(0);
  });
});

describe("the first segment: an output name", () => {
  it("reads the stored value, including falsy ones", () => {
    expect(resolveRefPath("n", values, outputs, "count")).toBe(0);
    expect(resolveRefPath("n", values, outputs, "obj")).toEqual({ k: "v", flag: false });
  });

  it("reads an unset output's schema default, else its type default", () => {
    expect(resolveRefPath("n", {}, outputs, "plain")).toBe("dflt");
    expect(resolveRefPath("n", {}, outputs, "count")).toBe(0);
    expect(resolveRefPath("n", {}, outputs, "obj")).toEqual({});
    expect(resolveRefPath("n", { plain: undefined }, outputs, "plain")).toBe("dflt");
  });

  it('gives every node errorCode (0) and errorMessage ("") unless set', () => {
    expect(resolveRefPath("n", {}, [], "errorCode")).toBe(0);
    expect(resolveRefPath("n", {}, [], "errorMessage")).toBe("");
    expect(resolveRefPath("n", { errorCode: 21600, errorMessage: "boom" }, [], "errorCode")).toBe(21600);
    expect(resolveRefPath("n", { errorCode: 21600, errorMessage: "boom" }, [], "errorMessage")).toBe("boom");
  });

  it("fails with 20600 for an output neither declared nor set", () => {
    const e = caught(() => resolveRefPath("llm::9", values, outputs, "nothing"));
    expect(e?.code).toBe(20600);
    expect(e?.message).toContain("Node llm::9 does not have value nothing");
    expect(caught(() => resolveRefPath("n", {}, [], "toString"))?.code).toBe(20600);
    expect(caught(() => resolveRefPath("n", {}, [], ""))?.code).toBe(20600);
  });

  it("returns a set value that no output declares, without walking into it", () => {
    expect(resolveRefPath("n", values, outputs, "system")).toEqual({ nested: 1 });
    expect(resolveRefPath("n", values, outputs, "system.nested")).toEqual({ nested: 1 });
  });
});

describe("pre-split paths", () => {
  it("splits a dotted name into segments", () => {
    expect(splitRefPath("result.items.title")).toEqual(["result", "items", "title"]);
    expect(splitRefPath("output")).toEqual(["output"]);
  });

  it("resolves pre-split segments as the dotted path does", () => {
    for (const p of ["result.title", "result.meta.n", "obj.k", "obj.inner.z", "plain", "errorCode"]) {
      expect(resolveRefSegments("n", values, outputs, splitRefPath(p))).toEqual(
        resolveRefPath("n", values, outputs, p),
      );
    }
  });
});
