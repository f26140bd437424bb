// The database node (spec §5.16), against PostgreSQL through the platform's SqlPort (issue 4: no xingchen-db hop).
// Every statement is parameterised: identifiers (table, columns, order fields) are checked against a strict pattern
// and quoted; every value is a $n parameter. The original built SQL by string interpolation (spec §11 item 3).
//
// Modes: 0 custom SQL, 1 insert (all inputs), 2 update (SET the inputs named in assignmentList), 3 select, 4 delete.
// WHERE comes from cases[0]; a condition's varIndex names an input whose value is compared ([new], spec §5.16: the
// original's substitution never fired), else the varIndex text itself is the value.
//
// Codes: 21002 bad or missing parameters found at run time (missing input, empty statement), 21000 the database
// refused or could not be reached (SQLSTATE and its message), 21001 the node could not finish (time limit, no
// database port). Build-time checks (identifiers, required keys per mode) are 22101 like every node protocol error.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin, type BuildNode, type NodeContext, type NodeResult } from "../engine/plugin.ts";
import type { JsonSchema } from "../engine/types.ts";

/**
 * PostgreSQL identifiers the node accepts: letters (any script, as the original's Python `\w`), digits and `_`,
 * not starting with a digit, at most 63 bytes. They are emitted quoted, ASCII-lowercased first, so `Users` still
 * means the table an unquoted `Users` meant, and a reserved word such as `order` is a plain column name.
 */
const IDENT = /^[\p{L}_][\p{L}\p{N}_]*$/u;

function validIdent(name: string): boolean {
  return IDENT.test(name) && new TextEncoder().encode(name).length <= 63;
}

export function quoteIdent(name: string): string {
  if (!validIdent(name))
    throw WorkflowError.of(Codes.PG_SQL_PARAM_ERROR, `invalid identifier: ${JSON.stringify(name.slice(0, 80))}`);
  return `"${name.replace(/[A-Z]/g, (c) => c.toLowerCase())}"`;
}

const Ident = z
  .string()
  .refine(validIdent, { message: "must be a SQL identifier (letters, digits, _; not starting with a digit)" });

const Operator = z.enum(["=", "!=", "like", "not like", "in", "not in", "null", "not null", "<", "<=", ">", ">="]);

const Condition = z
  .object({
    fieldName: Ident,
    varIndex: z.union([z.string(), z.number(), z.boolean()]).transform(String).default(""),
    selectCondition: Operator,
    fieldType: z.string().default(""),
  })
  .loose();
type Condition = z.infer<typeof Condition>;

const Case = z
  .object({
    logicalOperator: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(["and", "or"]))
      .default("and"),
    conditions: z.array(Condition).default([]),
  })
  .loose();

const Params = z
  .object({
    appId: z.string().default(""),
    apiKey: z.string().default(""),
    uid: z.string().default(""),
    dbId: z
      .union([z.number().int(), z.string().regex(/^\d+$/)])
      .transform(String)
      .optional(),
    mode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
    tableName: z.string().optional(),
    spaceId: z.union([z.number(), z.string()]).transform(String).optional(),
    sql: z.string().optional(),
    cases: z.array(Case).default([]),
    assignmentList: z.array(Ident).default([]),
    orderData: z
      .array(
        z
          .object({
            fieldName: Ident,
            order: z
              .string()
              .transform((s) => s.toLowerCase())
              .pipe(z.enum(["asc", "desc"])),
          })
          .loose(),
      )
      .default([]),
    // absent: no LIMIT clause (the deployment's row limit still applies); an explicit 0 is LIMIT 0 as in the original
    limit: z.number().int().min(0).optional(),
  })
  .loose();
type Params = z.infer<typeof Params>;

const ENGINE_FIRST_MS = 250;

const MODE_NAMES = ["custom", "insert", "update", "select", "delete"] as const;

// ---- statement building ---------------------------------------------------------------------------------------

export interface Statement {
  text: string;
  params: unknown[];
}

/** A value as a parameter: objects become JSON text (a json column takes it; a text column stores the JSON). */
function param(v: unknown): unknown {
  if (v === undefined) return null;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return JSON.stringify(v);
  return v;
}

/** Zero values of the original's `ZERO` table (null widening, projection defaults). */
const ZERO: Record<string, unknown> = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };

function paramErr(detail: string): WorkflowError {
  return WorkflowError.of(Codes.PG_SQL_PARAM_ERROR, detail);
}

/** `cases[0]` as a WHERE clause (without the keyword), "" when it has no conditions. */
export function buildWhere(p: Pick<Params, "cases">, inputs: Record<string, unknown>, params: unknown[]): string {
  const first = p.cases[0];
  if (!first || first.conditions.length === 0) return "";
  const add = (v: unknown): string => {
    params.push(param(v));
    return `$${params.length}`;
  };
  const parts = first.conditions.map((c: Condition) => {
    const field = quoteIdent(c.fieldName);
    const op = c.selectCondition;
    if (op === "null" || op === "not null") {
      const base = `${field} IS ${op === "null" ? "NULL" : "NOT NULL"}`;
      const zero = ZERO[c.fieldType.toLowerCase()];
      if (zero === undefined) return base;
      // spec §5.16: widened with the type's zero value, e.g. (f IS NULL OR f = '')
      return op === "null" ? `(${base} OR ${field} = ${add(zero)})` : `(${base} AND ${field} != ${add(zero)})`;
    }
    // [new] varIndex names an input; the literal text is the fallback
    const fromInput = Object.hasOwn(inputs, c.varIndex);
    const value = fromInput ? inputs[c.varIndex] : c.varIndex;
    if (op === "in" || op === "not in") {
      // an input's array is the list; a literal varIndex may be written "a,b,c"
      const list = Array.isArray(value) ? value : fromInput ? [value] : c.varIndex.split(",").map((s) => s.trim());
      if (list.length === 0) return op === "in" ? "FALSE" : "TRUE";
      params.push(list.map(param));
      // = ANY / <> ALL keep SQL's IN / NOT IN semantics for one array parameter
      return op === "in" ? `${field} = ANY($${params.length})` : `${field} <> ALL($${params.length})`;
    }
    if (op === "like" || op === "not like") {
      return `${field} ${op === "like" ? "LIKE" : "NOT LIKE"} ${add(`%${stringOf(value)}%`)}`;
    }
    return `${field} ${op} ${add(value)}`;
  });
  const joiner = first.logicalOperator === "or" ? " OR " : " AND ";
  return parts.length === 1 ? (parts[0] as string) : parts.map((x) => `(${x})`).join(joiner);
}

function stringOf(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** The statement of modes 1–4 (spec §5.16), parameterised. */
export function buildStatement(p: Params, inputs: Record<string, unknown>): Statement {
  const params: unknown[] = [];
  if (!p.tableName) throw paramErr("Database input tableName is empty");
  const table = quoteIdent(p.tableName);
  switch (p.mode) {
    case 1: {
      const names = Object.keys(inputs);
      if (names.length === 0) throw paramErr("insert needs at least one input (the columns to set)");
      const cols = names.map(quoteIdent);
      const values = names.map((n) => {
        params.push(param(inputs[n]));
        return `$${params.length}`;
      });
      // RETURNING * replaces the original's re-select by id
      return { text: `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${values.join(", ")}) RETURNING *`, params };
    }
    case 2: {
      if (p.assignmentList.length === 0) throw paramErr("update needs assignmentList (the columns to set)");
      const sets = p.assignmentList.map((f) => {
        if (!Object.hasOwn(inputs, f)) throw paramErr(`update sets ${f} but the node has no input named ${f}`);
        params.push(param(inputs[f]));
        return `${quoteIdent(f)} = $${params.length}`;
      });
      const where = buildWhere(p, inputs, params);
      if (!where)
        throw WorkflowError.of(
          Codes.PG_SQL_NODE_EXECUTION_ERROR,
          "Database DML statement generation failed: WHERE condition is empty",
        );
      // RETURNING * replaces the original's re-select of the WHERE (and shows the rows as updated)
      return { text: `UPDATE ${table} SET ${sets.join(", ")} WHERE ${where} RETURNING *`, params };
    }
    case 3: {
      const cols = p.assignmentList.length ? p.assignmentList.map(quoteIdent).join(", ") : "*";
      const where = buildWhere(p, inputs, params);
      const order = p.orderData.map((o) => `${quoteIdent(o.fieldName)} ${o.order === "desc" ? "DESC" : "ASC"}`);
      // spec §5.16: limit 0 is LIMIT 0 [sic]; the deployment's row limit still bounds any limit
      if (p.limit !== undefined) params.push(p.limit);
      return {
        text: `SELECT ${cols} FROM ${table}${where ? ` WHERE ${where}` : ""}${order.length ? ` ORDER BY ${order.join(", ")}` : ""}${p.limit !== undefined ? ` LIMIT $${params.length}` : ""}`,
        params,
      };
    }
    case 4: {
      const where = buildWhere(p, inputs, params);
      if (!where)
        throw WorkflowError.of(
          Codes.PG_SQL_NODE_EXECUTION_ERROR,
          "Database DML statement generation failed: WHERE condition is empty",
        );
      return { text: `DELETE FROM ${table} WHERE ${where}`, params };
    }
    default:
      throw paramErr("Mode is out of range");
  }
}

/**
 * Mode 0: the user's SQL with each `{{name}}` placeholder turned into a parameter.
 *
 * What changes against the original (which pasted `str(value)` into the text, so `{{id}}` = `1 OR 1=1` was SQL):
 * - a placeholder is a VALUE: it cannot stand for a table, a column, a keyword or a piece of SQL any more;
 * - a placeholder inside a quoted string, as users wrote it for the original (`name = '{{name}}'`), is a parameter
 *   too: `'{{x}}'` becomes `$n`, and a longer literal such as `'%{{x}}%'` becomes `('%' || $n::text || '%')`, so the
 *   value is the same text the original produced, and a quote in the value cannot end the literal;
 * - placeholders inside double-quoted identifiers, dollar-quoted bodies and comments stay as written (no value can
 *   be an identifier; bodies and comments are not statements);
 * - the statement is sent with the extended protocol, which takes exactly one statement: `a; b` is refused by the
 *   database (21000), and `$1`-style markers of the user's own are refused (21002) since the node numbers them.
 * An unknown placeholder stays as written (as in the original).
 */
export function buildCustom(sql: string, inputs: Record<string, unknown>): Statement {
  const params: unknown[] = [];
  const placeholder = /\{\{([\p{L}\p{N}_]+)\}\}/gu;
  const bind = (v: unknown, asText: boolean): string => {
    params.push(asText ? stringOf(v) : param(v));
    return `$${params.length}`;
  };
  let out = "";
  let i = 0;
  const n = sql.length;
  // code outside literals: replace placeholders by parameters, refuse positional markers
  const code = (chunk: string): string => {
    if (/(?<![\p{L}\p{N}_$])\$\d/u.test(chunk.replace(/\{\{[^}]*\}\}/g, "")))
      throw paramErr("custom SQL may not use positional parameters ($1); use {{name}} placeholders");
    return chunk.replace(placeholder, (m, name: string) =>
      Object.hasOwn(inputs, name) ? bind(inputs[name], false) : m,
    );
  };
  let start = 0;
  while (i < n) {
    const ch = sql[i] as string;
    const next = sql[i + 1];
    if (ch === "-" && next === "-") {
      out += code(sql.slice(start, i));
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? n : end + 1;
      out += sql.slice(i, stop);
      i = start = stop;
    } else if (ch === "/" && next === "*") {
      out += code(sql.slice(start, i));
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === "/" && sql[j + 1] === "*") (depth++, (j += 2));
        else if (sql[j] === "*" && sql[j + 1] === "/") (depth--, (j += 2));
        else j++;
      }
      out += sql.slice(i, j);
      i = start = j;
    } else if (ch === '"') {
      out += code(sql.slice(start, i));
      let j = i + 1;
      while (j < n) {
        if (sql[j] === '"' && sql[j + 1] === '"') j += 2;
        else if (sql[j] === '"') break;
        else j++;
      }
      out += sql.slice(i, j + 1);
      i = start = j + 1;
    } else if (
      ch === "$" &&
      /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.test(sql.slice(i)) &&
      !/[\p{L}\p{N}_]/u.test(sql[i - 1] ?? "")
    ) {
      const tag = (/^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i)) as RegExpExecArray)[0];
      out += code(sql.slice(start, i));
      const end = sql.indexOf(tag, i + tag.length);
      const stop = end < 0 ? n : end + tag.length;
      out += sql.slice(i, stop);
      i = start = stop;
    } else if (ch === "'") {
      // E'…' takes backslash escapes; a U&'…' literal cannot be split safely
      const prefix = /[eE]$/.test(sql.slice(start, i)) && !/[\p{L}\p{N}_]/u.test(sql[i - 2] ?? "") ? "E" : "";
      const unicode = /[uU]&$/.test(sql.slice(start, i));
      let j = i + 1;
      while (j < n) {
        if (prefix && sql[j] === "\\") j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      const body = sql.slice(i + 1, Math.min(j, n));
      const before = prefix ? sql.slice(start, i - 1) : sql.slice(start, i);
      const pieces = body.split(placeholder); // [text, name, text, name, …, text]
      const used = pieces.some((_, k) => k % 2 === 1 && Object.hasOwn(inputs, pieces[k] as string));
      if (!used) {
        out += code(sql.slice(start, i)) + sql.slice(i, j + 1);
      } else {
        if (unicode) throw paramErr("a {{placeholder}} inside a U&'…' literal is not supported");
        out += code(before);
        const terms: string[] = [];
        let textPart = "";
        for (let k = 0; k < pieces.length; k++) {
          const piece = pieces[k] as string;
          if (k % 2 === 0) textPart += piece;
          else if (Object.hasOwn(inputs, piece)) {
            if (textPart) terms.push(`${prefix}'${textPart}'`);
            textPart = "";
            terms.push(bind(inputs[piece], true));
          } else textPart += `{{${piece}}}`;
        }
        if (textPart) terms.push(`${prefix}'${textPart}'`);
        out +=
          terms.length === 1
            ? (terms[0] as string)
            : `(${terms.map((t) => (t.startsWith("$") ? `${t}::text` : t)).join(" || ")})`;
      }
      i = start = j + 1;
    } else i++;
  }
  out += code(sql.slice(start));
  if (out.trim() === "" || out.trim() === ";") throw paramErr("Database input SQL is empty");
  return { text: out, params };
}

// ---- outputs --------------------------------------------------------------------------------------------------

/** spec §5.16: rows projected onto the declared item `required` keys (missing → the type's zero value). */
export function project(
  rows: Record<string, unknown>[],
  outputList: JsonSchema | undefined,
): Record<string, unknown>[] {
  const items = outputList?.items;
  const required = Array.isArray(items?.required)
    ? items.required.filter((k): k is string => typeof k === "string")
    : [];
  if (required.length === 0) return rows;
  const props = items?.properties ?? {};
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const key of required) {
      const type = props[key]?.type;
      out[key] =
        Object.hasOwn(row, key) && row[key] !== null
          ? coerce(row[key], type)
          : type !== undefined && Object.hasOwn(ZERO, type)
            ? structuredClone(ZERO[type])
            : null;
    }
    return out;
  });
}

/** A column value as the declared property type when that is lossless (a numeric string as a number, …). */
function coerce(v: unknown, type: string | undefined): unknown {
  if ((type === "integer" || type === "number") && typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    if (Number.isFinite(n) && (type === "number" || Number.isSafeInteger(n))) return n;
  }
  if (type === "string" && (typeof v === "number" || typeof v === "boolean")) return String(v);
  return v;
}

function positiveInt(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && text.trim() !== "" && Number.isFinite(n) && n >= 1 ? Math.floor(n) : fallback;
}

export default definePlugin({
  type: "database",
  params: Params,
  retryable: true,
  // a statement may write: running it again after an eviction could insert twice
  idempotent: false,
  errorCode: Codes.PG_SQL_NODE_EXECUTION_ERROR,
  check(p: Params, node: BuildNode) {
    const bad = (detail: string): never => {
      throw WorkflowError.of(Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR, `${node.id}: ${detail}`);
    };
    if (p.mode === 0 && !p.sql?.trim()) bad("mode 0 (custom SQL) needs sql");
    if (p.mode !== 0) {
      if (!p.tableName?.trim()) bad(`mode ${p.mode} (${MODE_NAMES[p.mode]}) needs tableName`);
      if (!validIdent(p.tableName ?? "")) bad(`tableName ${JSON.stringify(p.tableName)} is not a SQL identifier`);
    }
    if ((p.mode === 2 || p.mode === 4) && !p.cases[0]?.conditions.length)
      bad(`mode ${p.mode} (${MODE_NAMES[p.mode]}) needs at least one condition in cases`);
    if (p.mode === 1)
      for (const i of node.inputs)
        if (!validIdent(i.name)) bad(`insert input ${JSON.stringify(i.name)} is not a column name`);
  },
  async run(ctx: NodeContext, p: Params): Promise<NodeResult> {
    const statement = p.mode === 0 ? buildCustom(p.sql ?? "", ctx.inputs) : buildStatement(p, ctx.inputs);
    if (!ctx.sql)
      throw WorkflowError.of(
        Codes.PG_SQL_NODE_EXECUTION_ERROR,
        "no database is available to this deployment (DATABASE_URL is not set)",
      );
    if (p.dbId === undefined) throw paramErr("dbId is required");
    // with retries on, the engine bounds each attempt by retryConfig.timeout (22302, spec §6.7) and aborts our signal,
    // which cancels the query; the server-side limit then only backs it up, a little later so the engine's code wins
    const timeoutMs =
      ctx.readTimeoutMs > 0 ? ctx.readTimeoutMs + ENGINE_FIRST_MS : positiveInt(ctx.config.DATABASE_TIMEOUT_MS, 10_000);
    const maxRows = positiveInt(ctx.config.DATABASE_MAX_ROWS, 1000);
    const { rows, truncated } = await ctx.sql.query(
      {
        dbId: p.dbId,
        appId: p.appId,
        env: ctx.run.isRelease ? "prod" : "test",
        ...(p.spaceId ? { spaceId: p.spaceId } : {}),
        // spec §5.16: the node's uid is replaced by the request's
        uid: ctx.run.uid,
      },
      statement.text,
      statement.params,
      { timeoutMs, maxRows, signal: ctx.signal },
    );
    if (truncated) ctx.log(`database: result truncated to ${maxRows} rows (DATABASE_MAX_ROWS)`);
    const message = truncated ? `success (truncated to ${maxRows} rows)` : "success";
    if (p.mode === 4) return { outputs: { isSuccess: true, message } };
    const declared = ctx.outputs.find((o) => o.name === "outputList")?.schema;
    return { outputs: { isSuccess: true, message, outputList: project(rows, declared) } };
  },
});
