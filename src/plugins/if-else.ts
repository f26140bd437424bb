import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";

export const COMPARE_OPERATORS = [
  "contains",
  "not_contains",
  "start_with",
  "end_with",
  "is",
  "is_not",
  "empty",
  "not_empty",
  "eq",
  "ne",
  "gt",
  "ge",
  "lt",
  "le",
  "null",
  "not_null",
] as const;
export type CompareOperator = (typeof COMPARE_OPERATORS)[number];

const Condition = z.object({
  leftVarIndex: z.string(),
  rightVarIndex: z.string().nullable().optional(),
  compareOperator: z.enum(COMPARE_OPERATORS),
});

const Case = z.object({
  id: z.string().min(1),
  level: z.number().int().min(1),
  logicalOperator: z.enum(["and", "or"]).default("and"),
  conditions: z.array(Condition).default([]),
});

/** nodeParam of spec §5.7; the level 999 case is the else branch. */
export const IfElseParams = z.object({ cases: z.array(Case).min(2) });
export type IfElseParams = z.infer<typeof IfElseParams>;

/** The comparison cannot be made (the original raises): the case counts as not matched. */
export class Uncomparable extends Error {}

/** Python truthiness: None, False, 0, "", [] and {} are falsy. */
function falsy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === "object" && Object.keys(v).length === 0;
}

/** A number in the original's sense: booleans count as the integers 0/1 (spec §5.7). */
function isNumeric(v: unknown): v is number | boolean {
  return typeof v === "number" || typeof v === "boolean";
}

function numeric(v: number | boolean): number {
  return typeof v === "boolean" ? Number(v) : v;
}

const INTEGER = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** E converted to A's numeric kind: an integer parse when A is an integer (or boolean), a float parse otherwise. */
function expectedNumber(a: number | boolean, e: unknown): number {
  const integral = typeof a === "boolean" || Number.isInteger(a);
  if (typeof e === "boolean") return Number(e);
  if (typeof e === "number") return integral ? Math.trunc(e) : e;
  if (typeof e === "string") {
    const t = e.trim();
    if (integral ? INTEGER.test(t) : FLOAT.test(t)) return Number(t);
    throw new Uncomparable(`cannot convert ${JSON.stringify(e)} to ${integral ? "an integer" : "a number"}`);
  }
  throw new Uncomparable(`cannot convert ${JSON.stringify(e) ?? "null"} to a number`);
}

/** Python `==` on JSON values: booleans equal their integers, arrays and objects compare deeply. */
function pyEqual(x: unknown, y: unknown): boolean {
  if (isNumeric(x) && isNumeric(y)) return numeric(x) === numeric(y);
  if (Array.isArray(x) || Array.isArray(y)) {
    return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => pyEqual(v, y[i]));
  }
  if (x !== null && y !== null && typeof x === "object" && typeof y === "object") {
    const a = x as Record<string, unknown>;
    const b = y as Record<string, unknown>;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && pyEqual(a[k], b[k]));
  }
  return x === y || ((x === null || x === undefined) && (y === null || y === undefined));
}

/** Python `E in A` for a string or list A (a non-string E in a string raises). */
function within(a: string | unknown[], e: unknown): boolean {
  if (typeof a === "string") {
    if (typeof e !== "string") throw new Uncomparable("'in <string>' requires a string");
    return a.includes(e);
  }
  return a.some((x) => pyEqual(x, e));
}

function affix(a: unknown, e: unknown, test: (a: string, e: string) => boolean): boolean {
  if (falsy(a) || typeof a !== "string") return false;
  if (typeof e !== "string") throw new Uncomparable("prefix and suffix tests need a string");
  return test(a, e);
}

function isEmpty(a: unknown): boolean {
  if (Array.isArray(a)) return a.length === 0;
  if (typeof a === "boolean") return a === false;
  if (typeof a === "number") return a === 0;
  if (typeof a === "string") return a.trim() === "";
  if (a !== null && typeof a === "object") return Object.keys(a).length === 0;
  return false; // null and anything else: not "empty" (so not_empty(null) is true), as the original
}

type Comparison = (a: unknown, e: unknown) => boolean;

function numericComparison(test: (x: number, y: number) => boolean): Comparison {
  return (a, e) => {
    if (a === null || a === undefined || !isNumeric(a)) return false;
    return test(numeric(a), expectedNumber(a, e));
  };
}

/** The operator table of spec §5.7, one row per operator (A actual, E expected); a new operator fails the typecheck. */
const COMPARISONS: Record<CompareOperator, Comparison> = {
  contains: (a, e) => {
    if (a === "" && e === "") return true;
    if (falsy(a)) return false;
    if (typeof a !== "string" && !Array.isArray(a)) return false;
    return within(a, e);
  },
  not_contains: (a, e) => {
    if (a === "" && e === "") return false;
    if (falsy(a)) return true;
    if (typeof a !== "string" && !Array.isArray(a)) return false;
    return !within(a, e);
  },
  start_with: (a, e) => affix(a, e, (x, y) => x.startsWith(y)),
  end_with: (a, e) => affix(a, e, (x, y) => x.endsWith(y)),
  is: (a, e) => {
    if (a === null || a === undefined) return false;
    if (isNumeric(a)) return COMPARISONS.eq(a, e);
    if (typeof a !== "string") return false;
    return a === e;
  },
  is_not: (a, e) => {
    if (a === null || a === undefined) return false;
    if (isNumeric(a)) return COMPARISONS.ne(a, e);
    if (typeof a !== "string") return false;
    return a !== e;
  },
  empty: (a) => isEmpty(a),
  not_empty: (a) => !isEmpty(a),
  eq: (a, e) => {
    if (a === null || a === undefined) return false;
    if (typeof a === "string") return COMPARISONS.is(a, e);
    if (!isNumeric(a)) return false;
    return numeric(a) === expectedNumber(a, e);
  },
  ne: (a, e) => {
    if (a === null || a === undefined) return false;
    if (typeof a === "string") return COMPARISONS.is_not(a, e);
    if (!isNumeric(a)) return false;
    return numeric(a) !== expectedNumber(a, e);
  },
  gt: numericComparison((x, y) => x > y),
  ge: numericComparison((x, y) => x >= y),
  lt: numericComparison((x, y) => x < y),
  le: numericComparison((x, y) => x <= y),
  null: (a) => a === null || a === undefined,
  not_null: (a) => a !== null && a !== undefined,
};

/** Applies one operator of spec §5.7. Throws `Uncomparable` when the original would raise (e.g. `gt` with "abc"). */
export function compare(op: CompareOperator, actual: unknown, expected: unknown): boolean {
  return COMPARISONS[op](actual, expected);
}

type Case = IfElseParams["cases"][number];

/** Whether a case matches; a case whose evaluation throws does not match (spec §5.7). */
function matches(c: Case, value: (inputId: string | null | undefined) => unknown): boolean {
  try {
    const results = c.conditions.map((cond) =>
      compare(cond.compareOperator, value(cond.leftVarIndex), value(cond.rightVarIndex)),
    );
    return c.logicalOperator === "or" ? results.some(Boolean) : results.length > 0 && results.every(Boolean);
  } catch {
    return false;
  }
}

/** The branch node (spec §5.7): the first matching case in array order gives the branch handle; 999 is the else. */
export default definePlugin({
  type: "if-else",
  params: IfElseParams,
  branches: true,
  handles: (p) => ({ field: "nodeParam.cases", ids: p.cases.map((c) => c.id) }),
  // a pure function of its inputs: safe to run again after a restart
  idempotent: true,
  errorCode: Codes.IF_ELSE_NODE_EXECUTION_ERROR,
  check: (p, node) => {
    // conditions name the node's inputs by id (spec §5.7)
    const ids = new Set(node.inputs.flatMap((i) => (i.id === undefined ? [] : [i.id])));
    for (const c of p.cases) {
      for (const cond of c.conditions) {
        for (const ref of [cond.leftVarIndex, cond.rightVarIndex]) {
          if (ref !== null && ref !== undefined && !ids.has(ref)) {
            throw WorkflowError.of(
              Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
              `node ${node.id}: case ${c.id} references unknown input ${ref}`,
            );
          }
        }
      }
    }
  },
  run: (ctx, p) => {
    const names = new Map(ctx.inputIds.map((x) => [x.id, x.name]));
    const value = (id: string | null | undefined): unknown => {
      const name = id === null || id === undefined ? undefined : names.get(id);
      return name === undefined ? null : (ctx.inputs[name] ?? null);
    };
    for (const c of p.cases) {
      if (c.level === 999 || matches(c, value)) return { outputs: {}, branch: c.id };
    }
    // spec §5.7 [new]: the original takes the last evaluated case; a flow without an else branch fails instead
    throw WorkflowError.of(Codes.IF_ELSE_NODE_EXECUTION_ERROR, "no branch matched");
  },
});
