import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin } from "../engine/plugin.ts";

const OPERATORS = [
  "contains", "not_contains", "start_with", "end_with", "is", "is_not", "empty", "not_empty",
  "eq", "ne", "gt", "ge", "lt", "le", "null", "not_null",
] as const;
export type CompareOperator = (typeof OPERATORS)[number];

const Condition = z.object({
  leftVarIndex: z.string(),
  rightVarIndex: z.string().nullable().optional(),
  compareOperator: z.enum(OPERATORS),
});

const Case = z.object({
  id: z.string().min(1),
  level: z.number().int().min(1),
  logicalOperator: z.enum(["and", "or"]).default("and"),
  conditions: z.array(Condition).default([]),
});

const Params = z.object({ cases: z.array(Case).min(2) });

class Uncomparable extends Error {}

function isNumber(v: unknown): v is number | boolean {
  // booleans count as integers 0/1 in numeric comparisons (spec §5.7)
  return typeof v === "number" || typeof v === "boolean";
}

function num(v: number | boolean): number {
  return typeof v === "boolean" ? Number(v) : v;
}

/** E converted to A's numeric kind: an integer parse when A is an integer, a float parse otherwise. */
function expectedNumber(a: number | boolean, e: unknown): number {
  const integral = typeof a === "boolean" || Number.isInteger(a);
  if (typeof e === "number") return integral ? Math.trunc(e) : e;
  if (typeof e === "boolean") return Number(e);
  if (typeof e === "string") {
    const t = e.trim();
    const n = integral ? (/^[+-]?\d+$/.test(t) ? Number.parseInt(t, 10) : Number.NaN) : t === "" ? Number.NaN : Number(t);
    if (Number.isNaN(n)) throw new Uncomparable(`cannot compare with ${e}`);
    return n;
  }
  throw new Uncomparable("cannot compare");
}

function isEmpty(a: unknown): boolean {
  if (Array.isArray(a)) return a.length === 0;
  if (typeof a === "boolean") return a === false;
  if (typeof a === "number") return a === 0;
  if (typeof a === "string") return a.trim() === "";
  if (a !== null && typeof a === "object") return Object.keys(a).length === 0;
  return false;
}

function contains(a: unknown, e: unknown): boolean {
  if (typeof a === "string") return a.includes(String(e));
  if (Array.isArray(a)) return a.some((x) => JSON.stringify(x) === JSON.stringify(e));
  return false;
}

/** The comparison operators of spec §5.7 (A actual, E expected). Throws when the values cannot be compared. */
export function compare(op: CompareOperator, a: unknown, e: unknown): boolean {
  switch (op) {
    case "contains":
      if (a === "" && e === "") return true;
      if (!a) return false;
      return contains(a, e);
    case "not_contains":
      if (a === "" && e === "") return false;
      if (!a) return true;
      if (typeof a !== "string" && !Array.isArray(a)) return false;
      return !contains(a, e);
    case "start_with":
      return typeof a === "string" && a !== "" && a.startsWith(String(e));
    case "end_with":
      return typeof a === "string" && a !== "" && a.endsWith(String(e));
    case "is":
      if (a === null || a === undefined) return false;
      if (isNumber(a) && typeof a !== "boolean") return compare("eq", a, e);
      if (typeof a !== "string") return false;
      return a === e;
    case "is_not":
      if (a === null || a === undefined) return false;
      if (isNumber(a) && typeof a !== "boolean") return compare("ne", a, e);
      if (typeof a !== "string") return false;
      return a !== e;
    case "empty":
      return isEmpty(a);
    case "not_empty":
      return !isEmpty(a);
    case "eq":
    case "ne": {
      if (a === null || a === undefined) return false;
      if (typeof a === "string") return compare(op === "eq" ? "is" : "is_not", a, e);
      if (!isNumber(a)) return false;
      const x = num(a);
      const y = expectedNumber(a, e);
      return op === "eq" ? x === y : x !== y;
    }
    case "gt":
    case "ge":
    case "lt":
    case "le": {
      if (a === null || a === undefined || !isNumber(a)) return false;
      const x = num(a);
      const y = expectedNumber(a, e);
      return op === "gt" ? x > y : op === "ge" ? x >= y : op === "lt" ? x < y : x <= y;
    }
    case "null":
      return a === null || a === undefined;
    case "not_null":
      return a !== null && a !== undefined;
  }
}

/** The branch node (spec §5.7): the first matching case (in array order) gives the branch handle. */
export default definePlugin({
  type: "if-else",
  params: Params,
  branches: true,
  errorCode: Codes.IF_ELSE_NODE_EXECUTION_ERROR,
  check: (p, node) => {
    const ids = new Set(node.inputs.map((i) => i.id).filter((x): x is string => typeof x === "string"));
    for (const c of p.cases) {
      for (const cond of c.conditions) {
        for (const ref of [cond.leftVarIndex, cond.rightVarIndex]) {
          if (ref !== null && ref !== undefined && !ids.has(ref)) {
            throw WorkflowError.of(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `node ${node.id}: case ${c.id} references unknown input ${ref}`);
          }
        }
      }
    }
  },
  run: (ctx, p) => {
    // input ids → names are fixed by the DSL; the resolved values are keyed by name
    const byId = new Map<string, string>();
    for (const input of ctx.inputIds ?? []) byId.set(input.id, input.name);
    for (const c of p.cases) {
      if (c.level === 999) return { outputs: {}, branch: c.id };
      try {
        const results = c.conditions.map((cond) => {
          const a = ctx.inputs[byId.get(cond.leftVarIndex) ?? ""];
          const e = cond.rightVarIndex ? ctx.inputs[byId.get(cond.rightVarIndex) ?? ""] : null;
          return compare(cond.compareOperator, a ?? null, e ?? null);
        });
        const matched = c.logicalOperator === "or" ? results.some(Boolean) : results.length > 0 && results.every(Boolean);
        if (matched) return { outputs: {}, branch: c.id };
      } catch {
        // a case that cannot be evaluated counts as not matched (spec §5.7)
      }
    }
    throw WorkflowError.of(Codes.IF_ELSE_NODE_EXECUTION_ERROR, "no branch matched and there is no else branch");
  },
});
