// The branch node (spec §5.7): params, build check, case evaluation and every row of the operator table.
import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import ifElse, { COMPARE_OPERATORS, type CompareOperator, compare } from "../../src/plugins/if-else.ts";
import { loadFixture } from "../support/fixtures.ts";
import { runPlugin, runPluginError } from "../support/node-context.ts";

function templateParam(): {
  cases: { id: string; level: number; logicalOperator: string; conditions: Record<string, unknown>[] }[];
} {
  return bizNodeToCore(loadFixture("if-else.json")).data.nodeParam as ReturnType<typeof templateParam>;
}

describe("if-else params", () => {
  it("rejects the template as it comes: its condition has null fields until edited (22101 at build)", () => {
    const parsed = ifElse.params.safeParse(templateParam());
    expect(parsed.success).toBe(false);
    const paths = parsed.error?.issues.map((i) => i.path.join(".")) ?? [];
    expect(paths).toContain("cases.0.conditions.0.leftVarIndex");
    expect(paths).toContain("cases.0.conditions.0.compareOperator");
  });

  it("accepts the template once its condition is filled in, right side null for a unary operator", () => {
    const p = templateParam();
    const first = p.cases[0];
    if (!first) throw new Error("template without cases");
    first.id = "branch_one_of::c1";
    first.conditions = [{ id: "", leftVarIndex: "in-1", rightVarIndex: null, compareOperator: "not_empty" }];
    const last = p.cases[1];
    if (last) last.id = "branch_one_of::else";
    const parsed = ifElse.params.parse(p);
    expect(parsed.cases[0]?.conditions[0]).toEqual({
      leftVarIndex: "in-1",
      rightVarIndex: null,
      compareOperator: "not_empty",
    });
    expect(parsed.cases[1]).toEqual({ id: "branch_one_of::else", level: 999, logicalOperator: "and", conditions: [] });
  });

  it("rejects garbage", () => {
    const ok = { id: "branch_one_of::a", level: 1, logicalOperator: "and", conditions: [] };
    const orElse = { id: "branch_one_of::b", level: 999, logicalOperator: "and", conditions: [] };
    const cond = { leftVarIndex: "a", rightVarIndex: "b", compareOperator: "eq" };
    for (const garbage of [
      "garbage",
      [1, 2, 3],
      {},
      { cases: [ok] }, // fewer than two cases
      { cases: [{ ...ok, level: 0 }, orElse] },
      { cases: [{ ...ok, logicalOperator: "xor" }, orElse] },
      { cases: [{ ...ok, conditions: [{ ...cond, compareOperator: "like" }] }, orElse] },
      { cases: [{ ...ok, conditions: [{ ...cond, leftVarIndex: 3 }] }, orElse] },
    ]) {
      expect(ifElse.params.safeParse(garbage).success).toBe(false);
    }
  });
});

describe("if-else build check", () => {
  const params = (left: string, right: string | null) =>
    ifElse.params.parse({
      cases: [
        {
          id: "branch_one_of::a",
          level: 1,
          logicalOperator: "and",
          conditions: [{ leftVarIndex: left, rightVarIndex: right, compareOperator: "eq" }],
        },
        { id: "branch_one_of::b", level: 999, logicalOperator: "and", conditions: [] },
      ],
    });
  const node = {
    id: "if-else::1",
    type: "if-else",
    inputs: [{ id: "in-a", name: "a" }, { id: "in-b", name: "b" }, { name: "no-id" }],
    outputs: [],
  };

  it("accepts conditions that name the node's input ids (a null right side included)", () => {
    expect(() => ifElse.check?.(params("in-a", "in-b"), node)).not.toThrow();
    expect(() => ifElse.check?.(params("in-a", null), node)).not.toThrow();
  });

  it("fails with 22101 on an unknown left or right input id", () => {
    for (const p of [params("in-zz", "in-b"), params("in-a", "in-zz"), params("a", null)]) {
      let code = 0;
      try {
        ifElse.check?.(p, node);
      } catch (e) {
        if (e instanceof WorkflowError) code = e.code;
      }
      expect(code).toBe(22101);
    }
  });
});

describe("if-else evaluation (spec §5.7)", () => {
  const inputIds = [
    { id: "in-score", name: "score" },
    { id: "in-limit", name: "limit" },
    { id: "in-text", name: "text" },
    { id: "in-missing", name: "missing" },
  ];
  const cond = (left: string, op: CompareOperator, right: string | null = null) => ({
    leftVarIndex: left,
    rightVarIndex: right,
    compareOperator: op,
  });
  const kase = (id: string, conditions: ReturnType<typeof cond>[], logicalOperator = "and", level = 1) => ({
    id: `branch_one_of::${id}`,
    level,
    logicalOperator,
    conditions,
  });
  const orElse = kase("else", [], "and", 999);
  const branch = async (cases: unknown[], inputs: Record<string, unknown>) => {
    const { result } = await runPlugin(ifElse, { cases }, { inputs, inputIds });
    expect(result.outputs).toEqual({});
    return result.branch;
  };
  const inputs = { score: 80, limit: 60, text: "hello world" };

  it("takes the first matching case in array order, not by level", async () => {
    const cases = [
      kase("low", [cond("in-score", "lt", "in-limit")], "and", 1),
      kase("b", [cond("in-score", "ge", "in-limit")], "and", 3),
      kase("c", [cond("in-text", "contains")], "and", 2),
      orElse,
    ];
    expect(await branch(cases, inputs)).toBe("branch_one_of::b");
  });

  it("takes the 999 case as soon as it is reached", async () => {
    expect(await branch([orElse, kase("b", [cond("in-score", "ge", "in-limit")])], inputs)).toBe("branch_one_of::else");
    expect(await branch([kase("a", [cond("in-score", "lt", "in-limit")]), orElse], inputs)).toBe("branch_one_of::else");
  });

  it("combines conditions with and / or", async () => {
    const both = [cond("in-score", "ge", "in-limit"), cond("in-text", "start_with", "in-missing")];
    // start_with with a null expected value throws: with "and" the case fails as a whole
    expect(await branch([kase("and", both, "and"), orElse], inputs)).toBe("branch_one_of::else");
    const soft = [cond("in-score", "ge", "in-limit"), cond("in-text", "empty")];
    expect(await branch([kase("and", soft, "and"), orElse], inputs)).toBe("branch_one_of::else");
    expect(await branch([kase("or", soft, "or"), orElse], inputs)).toBe("branch_one_of::or");
  });

  it("counts a case whose evaluation throws as not matched and goes on", async () => {
    const cases = [
      kase("bad", [cond("in-score", "gt", "in-text")]),
      kase("good", [cond("in-score", "gt", "in-limit")]),
      orElse,
    ];
    expect(await branch(cases, inputs)).toBe("branch_one_of::good");
  });

  it("reads an input without a value as null", async () => {
    const cases = [kase("n", [cond("in-missing", "null")]), orElse];
    expect(await branch(cases, inputs)).toBe("branch_one_of::n");
  });

  it("never matches a non-else case without conditions", async () => {
    expect(await branch([kase("none", []), orElse], inputs)).toBe("branch_one_of::else");
  });

  it("[new] fails with 23100 when nothing matches and there is no 999 case", async () => {
    const cases = [kase("a", [cond("in-score", "lt", "in-limit")]), kase("b", [cond("in-text", "empty")])];
    const e = await runPluginError(ifElse, { cases }, { inputs, inputIds });
    expect(e.code).toBe(23100);
    expect(e.message).toContain("no branch matched");
  });

  it("is a branch node", () => {
    expect(ifElse.branches).toBe(true);
  });
});

type Row = [op: CompareOperator, actual: unknown, expected: unknown, want: boolean | "throws", why: string];

/** Every row of the operator table of spec §5.7, with its tricky cases. */
const TABLE: Row[] = [
  ["contains", "", "", true, 'A=="" and E=="" → true'],
  ["contains", null, "a", false, "A falsy → false"],
  ["contains", "", "a", false, "A falsy → false"],
  ["contains", 0, "0", false, "A falsy → false"],
  ["contains", [], "a", false, "A falsy (empty list) → false"],
  ["contains", 5, "5", false, "A not string/array → false"],
  ["contains", { a: 1 }, "a", false, "A not string/array → false"],
  ["contains", "hello", "ell", true, "substring"],
  ["contains", "hello", "xyz", false, "not a substring"],
  ["contains", "hello", 5, "throws", "a non-string in a string raises"],
  ["contains", ["a", "b"], "b", true, "element"],
  ["contains", ["a", "b"], "c", false, "not an element"],
  ["contains", [1, 2], true, true, "True == 1 in a list, as in Python"],
  ["contains", [{ k: [1] }], { k: [1] }, true, "deep element equality"],
  ["not_contains", "", "", false, 'A=="" and E=="" → false'],
  ["not_contains", null, "x", true, "A falsy → true"],
  ["not_contains", {}, "x", true, "A falsy (empty object) → true"],
  ["not_contains", 5, "x", false, "A not string/array → false"],
  ["not_contains", { a: 1 }, "x", false, "A not string/array → false"],
  ["not_contains", "hello", "z", true, "not a substring"],
  ["not_contains", "hello", "h", false, "substring"],
  ["not_contains", ["a"], "a", false, "element"],
  ["not_contains", ["a"], "b", true, "not an element"],
  ["start_with", "hello", "he", true, "prefix"],
  ["start_with", "hello", "lo", false, "not a prefix"],
  ["start_with", "", "", false, "A falsy → false"],
  ["start_with", null, "a", false, "A falsy → false"],
  ["start_with", 12, "1", false, "A not a string → false"],
  ["start_with", "hello", null, "throws", "a null prefix raises"],
  ["end_with", "hello", "lo", true, "suffix"],
  ["end_with", "hello", "he", false, "not a suffix"],
  ["end_with", "", "", false, "A falsy → false"],
  ["end_with", ["lo"], "lo", false, "A not a string → false"],
  ["is", null, null, false, "A null → false"],
  ["is", "a", "a", true, "A === E"],
  ["is", "a", "b", false, "A !== E"],
  ["is", "1", 1, false, "strings compare strictly"],
  ["is", 3, "3", true, "A number → eq"],
  ["is", 3, "x", "throws", "A number → eq, E not numeric"],
  ["is", true, 1, true, "booleans are the numbers 0/1"],
  ["is", [1], [1], false, "A neither string nor number → false"],
  ["is", { a: 1 }, { a: 1 }, false, "A neither string nor number → false"],
  ["is_not", null, "x", false, "A null → false"],
  ["is_not", "a", "b", true, "A !== E"],
  ["is_not", "a", "a", false, "A === E"],
  ["is_not", 3, "4", true, "A number → ne"],
  ["is_not", 3, "3", false, "A number → ne"],
  ["is_not", [1], [2], false, "A neither string nor number → false"],
  ["empty", [], null, true, "array → length 0"],
  ["empty", [0], null, false, "array with items"],
  ["empty", false, null, true, "boolean → A is false"],
  ["empty", true, null, false, "boolean true"],
  ["empty", 0, null, true, "number → A == 0"],
  ["empty", 0.5, null, false, "non-zero number"],
  ["empty", "  ", null, true, "string → trimmed empty"],
  ["empty", " x ", null, false, "string with text"],
  ["empty", {}, null, true, "object → no keys"],
  ["empty", { a: null }, null, false, "object with keys"],
  ["empty", null, null, false, "null → false (sic)"],
  ["not_empty", null, null, true, "negation of empty: null → true (sic)"],
  ["not_empty", [1], null, true, "array with items"],
  ["not_empty", "", null, false, "empty string"],
  ["not_empty", 0, null, false, "zero"],
  ["eq", null, 1, false, "A null → false"],
  ["eq", "abc", "abc", true, "A string → is"],
  ["eq", "abc", "abd", false, "A string → is"],
  ["eq", "5", 5, false, "A string → is (strict)"],
  ["eq", [1], 1, false, "A non-number → false"],
  ["eq", { a: 1 }, 1, false, "A non-number → false"],
  ["eq", 5, "5", true, "integer A: integer parse of E"],
  ["eq", 5, " 5 ", true, "integer parse trims"],
  ["eq", 5, "5.7", "throws", "integer A: E must parse as an integer"],
  ["eq", 5, 5.7, true, "integer A: a float E is truncated"],
  ["eq", 5.5, "5.5", true, "float A: float parse of E"],
  ["eq", 5.5, "5", false, "float A: float parse of E"],
  ["eq", 5.5, "1e1", false, "float A: exponent notation parses"],
  ["eq", 5.5, "abc", "throws", "float A: E must parse as a number"],
  ["eq", 5, null, "throws", "E null cannot be converted"],
  ["eq", 5, [5], "throws", "E array cannot be converted"],
  ["eq", true, 1, true, "booleans are the numbers 0/1"],
  ["eq", false, "0", true, "booleans are the numbers 0/1"],
  ["eq", 1, true, true, "a boolean E is 0/1"],
  ["ne", null, 1, false, "A null → false"],
  ["ne", "a", "b", true, "A string → is_not"],
  ["ne", 5, "6", true, "numeric"],
  ["ne", 5, "5", false, "numeric"],
  ["ne", [1], 2, false, "A non-number → false"],
  ["gt", 10, "9", true, "numeric"],
  ["gt", 10, "10", false, "numeric"],
  ["gt", 10, "abc", "throws", "non-numeric E raises"],
  ["gt", 10, null, "throws", "null E raises"],
  ["gt", "10", "9", false, "A not a number → false"],
  ["gt", null, "9", false, "A null → false"],
  ["gt", true, 0, true, "booleans are the numbers 0/1"],
  ["gt", 2.5, "2.4", true, "float parse"],
  ["ge", 9, 9, true, "equal"],
  ["ge", 9, "10", false, "less"],
  ["ge", "9", 9, false, "A not a number → false"],
  ["lt", 1.5, "2.5", true, "float parse"],
  ["lt", 3, "2", false, "greater"],
  ["lt", 3, "2.5", "throws", "integer A: E must parse as an integer"],
  ["lt", [1], 2, false, "A not a number → false"],
  ["le", 3, "3", true, "equal"],
  ["le", 3, "2", false, "greater"],
  ["le", null, 3, false, "A null → false"],
  ["null", null, null, true, "A is null"],
  ["null", 0, null, false, "0 is not null"],
  ["null", "", null, false, "'' is not null"],
  ["not_null", 0, null, true, "0 is not null"],
  ["not_null", [], null, true, "[] is not null"],
  ["not_null", null, null, false, "A is null"],
];

describe("compare: the operator table of spec §5.7", () => {
  it("covers every operator", () => {
    const covered = new Set(TABLE.map((r) => r[0]));
    expect(COMPARE_OPERATORS.filter((op) => !covered.has(op))).toEqual([]);
  });

  for (const [op, a, e, want, why] of TABLE) {
    it(`${op}(${JSON.stringify(a)}, ${JSON.stringify(e)}) → ${String(want)}: ${why}`, () => {
      if (want === "throws") expect(() => compare(op, a, e)).toThrow();
      else expect(compare(op, a, e)).toBe(want);
    });
  }
});
