// The database node (spec §5.16, issue 4) against a real PostgreSQL on loopback, through the real SqlPort
// (src/durable/sql.ts, the `postgres` driver): the five modes, injection attempts that must stay data, identifier
// checks, the row and time limits, the 21000-family codes, retries and strategies, and the connection secret kept
// out of messages and frames.
import postgres from "postgres";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import type { Frame } from "../../src/engine/types.ts";
import { createSqlPort, poolOptions, type ClosableSqlPort } from "../../src/durable/sql.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import { buildCustom, quoteIdent } from "../../src/plugins/database.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type FlowBuilder, type Json } from "../support/dsl-builder.ts";
import { runFlow, runInfo, Scripts, testRegistry } from "../support/engine-harness.ts";
import { caught } from "../support/errors.ts";
import { loadFixture } from "../support/fixtures.ts";
import { startPostgres, type PostgresHandle } from "../support/postgres-server.ts";

let pg: PostgresHandle;
let admin: postgres.Sql;
let port: ClosableSqlPort;

beforeAll(async () => {
  pg = await startPostgres();
  admin = postgres(pg.url, { max: 2, onnotice: () => undefined });
  port = createSqlPort({ DATABASE_URL: pg.url });
}, 60_000);

afterAll(async () => {
  await port?.close();
  await admin?.end({ timeout: 1 });
  await pg?.stop();
});

beforeEach(async () => {
  await admin.unsafe(`
    drop table if exists users;
    create table users (id bigserial primary key, name text, age int, email text, note text, tags jsonb, score numeric(6,2), born date);
    insert into users (name, age, email, note, score, born) values
      ('alice', 30, 'alice@example.com', 'likes tea', 12.50, '1994-05-01'),
      ('bob', 25, 'bob@example.com', null, 7.25, '1999-01-02'),
      ('carol', 41, 'carol@example.com', '', 3.00, '1983-11-30'),
      ('O''Brien', 52, 'ob@example.com', 'quote in name', 1.10, '1972-03-04');
    drop sequence if exists attempts;
    create sequence attempts;
  `);
});

const DB = "database::d";

interface InputSpec {
  name: string;
  value: Json;
  type?: string;
}

/** The real Astron template with our nodeParam, literal inputs and an outputList item schema. */
function dbNode(
  params: Record<string, Json>,
  inputs: InputSpec[],
  extra: { required?: string[]; retry?: Record<string, Json> } = {},
): Record<string, Json> {
  const core = bizNodeToCore(loadFixture("database.json")) as { id: string; data: Record<string, unknown> };
  core.id = DB;
  // a key given as null is left out
  core.data.nodeParam = Object.fromEntries(
    Object.entries({ appId: "app1", apiKey: "k", uid: "builder", dbId: 1, ...params }).filter(([, v]) => v !== null),
  );
  core.data.inputs = inputs.map((i) => ({
    name: i.name,
    schema: {
      type: i.type ?? (typeof i.value === "number" ? "integer" : Array.isArray(i.value) ? "array" : "string"),
      value: { type: "literal", content: i.value },
    },
  }));
  if (extra.required) {
    core.data.outputs = [
      { name: "isSuccess", schema: { type: "boolean" } },
      { name: "message", schema: { type: "string" } },
      {
        name: "outputList",
        schema: {
          type: "array",
          items: {
            type: "object",
            properties: {
              id: { type: "integer" },
              name: { type: "string" },
              age: { type: "integer" },
              missing: { type: "string" },
            },
            required: extra.required,
          },
        },
      },
    ];
  }
  if (extra.retry) core.data.retryConfig = extra.retry;
  return core as unknown as Record<string, Json>;
}

/** start → database → end (variable mode: ok, msg and, except delete, rows) */
function dbFlow(
  params: Record<string, Json>,
  inputs: InputSpec[] = [],
  extra: { required?: string[]; retry?: Record<string, Json> } = {},
): unknown {
  const endInputs = [
    { name: "ok", type: "boolean", ref: { node: DB, name: "isSuccess" } },
    { name: "msg", ref: { node: DB, name: "message" } },
    ...(params.mode === 4 ? [] : [{ name: "rows", type: "array", ref: { node: DB, name: "outputList" } }]),
  ];
  const b = flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(END, { params: { outputMode: 0 }, inputs: endInputs });
  b.nodes.push(dbNode(params, inputs, extra));
  return b.edge(START, DB).edge(DB, END).build();
}

type Opts = Parameters<typeof runFlow>[1];
const opts = (over: Opts = {}): Opts => ({
  registry,
  sql: port,
  config: {},
  parameters: { AGENT_USER_INPUT: "q" },
  ...over,
});

async function run(dsl: unknown, over: Opts = {}) {
  return runFlow(dsl, opts(over));
}

async function outputsOf(
  dsl: unknown,
  over: Opts = {},
): Promise<{ ok: boolean; msg: string; rows: Record<string, unknown>[] }> {
  const { outcome } = await run(dsl, over);
  if (outcome.status !== "completed") throw new Error(`run ${outcome.status}: ${JSON.stringify(outcome)}`);
  return outcome.outputs as { ok: boolean; msg: string; rows: Record<string, unknown>[] };
}

const names = async (): Promise<string[]> =>
  (await admin`select name from users order by id`).map((r) => r.name as string);
const tableExists = async (): Promise<boolean> =>
  (await admin`select to_regclass('public.users') is not null as ok`)[0]?.ok === true;

const where = (conditions: Json[], logicalOperator = "and"): Json => [{ logicalOperator, conditions }];

describe("database node: the five modes on real tables", () => {
  it("mode 1 inserts every input as a column and returns the inserted row (RETURNING), projected on the required keys", async () => {
    const out = await outputsOf(
      dbFlow(
        { mode: 1, tableName: "users" },
        [
          { name: "name", value: "dave" },
          { name: "age", value: 33 },
        ],
        { required: ["id", "name", "missing"] },
      ),
    );
    expect(out.ok).toBe(true);
    expect(out.msg).toBe("success");
    expect(out.rows).toEqual([{ id: 5, name: "dave", missing: "" }]);
    expect(await admin`select name, age from users where id = 5`).toEqual([{ name: "dave", age: 33 }]);
  });

  it("mode 2 updates the assignmentList columns from same-named inputs where cases[0] holds, and returns the updated rows", async () => {
    const params = {
      mode: 2,
      tableName: "users",
      assignmentList: ["age"],
      cases: where([{ fieldName: "name", varIndex: "who", selectCondition: "=" }]),
    };
    const out = await outputsOf(
      dbFlow(params, [
        { name: "age", value: 31 },
        { name: "who", value: "alice" },
      ]),
    );
    expect(out.rows).toMatchObject([{ id: 1, name: "alice", age: 31 }]);
    expect(await admin`select name, age from users order by id`).toEqual([
      { name: "alice", age: 31 },
      { name: "bob", age: 25 },
      { name: "carol", age: 41 },
      { name: "O'Brien", age: 52 },
    ]);
  });

  it("mode 3 selects the listed columns with WHERE (and/or), ORDER BY and LIMIT; varIndex falls back to its literal text", async () => {
    const params = {
      mode: 3,
      tableName: "users",
      assignmentList: ["name", "age"],
      // "30" is no input's name: the literal is compared ([new] substitution with fallback)
      cases: where(
        [
          { fieldName: "age", varIndex: "30", selectCondition: ">=" },
          { fieldName: "name", varIndex: "pattern", selectCondition: "like" },
        ],
        "or",
      ),
      orderData: [{ fieldName: "age", order: "desc" }],
      limit: 10,
    };
    const out = await outputsOf(dbFlow(params, [{ name: "pattern", value: "ob" }]));
    expect(out.rows).toEqual([
      { name: "O'Brien", age: 52 },
      { name: "carol", age: 41 },
      { name: "alice", age: 30 },
      { name: "bob", age: 25 },
    ]);
    const limited = await outputsOf(dbFlow({ ...params, limit: 2 }, [{ name: "pattern", value: "ob" }]));
    expect(limited.rows.map((r) => r.name)).toEqual(["O'Brien", "carol"]);
    // spec §5.16: an explicit limit 0 is LIMIT 0 [sic]; no limit at all returns every match (up to the row limit)
    expect((await outputsOf(dbFlow({ ...params, limit: 0 }, [{ name: "pattern", value: "ob" }]))).rows).toEqual([]);
    const { limit: _drop, ...noLimit } = params;
    void _drop;
    expect((await outputsOf(dbFlow(noLimit, [{ name: "pattern", value: "ob" }]))).rows.map((r) => r.name)).toEqual([
      "O'Brien",
      "carol",
      "alice",
      "bob",
    ]);
  });

  it("mode 3: in / not in take an input's array, null / not null widen with the fieldType's zero value", async () => {
    const sel = (cond: Json, inputs: InputSpec[] = []) =>
      outputsOf(
        dbFlow(
          {
            mode: 3,
            tableName: "users",
            assignmentList: ["name"],
            cases: where([cond]),
            orderData: [{ fieldName: "id", order: "asc" }],
            limit: 100,
          },
          inputs,
        ),
      );
    expect(
      (
        await sel({ fieldName: "name", varIndex: "list", selectCondition: "in" }, [
          { name: "list", value: ["bob", "carol", "nobody"] },
        ])
      ).rows,
    ).toEqual([{ name: "bob" }, { name: "carol" }]);
    expect(
      (
        await sel({ fieldName: "name", varIndex: "list", selectCondition: "not in" }, [
          { name: "list", value: ["bob", "carol"] },
        ])
      ).rows,
    ).toEqual([{ name: "alice" }, { name: "O'Brien" }]);
    expect((await sel({ fieldName: "age", varIndex: "25,41", selectCondition: "in" })).rows).toEqual([
      { name: "bob" },
      { name: "carol" },
    ]);
    expect((await sel({ fieldName: "note", varIndex: "x", selectCondition: "null" })).rows).toEqual([{ name: "bob" }]);
    expect(
      (await sel({ fieldName: "note", varIndex: "x", selectCondition: "null", fieldType: "string" })).rows,
    ).toEqual([{ name: "bob" }, { name: "carol" }]);
    expect(
      (await sel({ fieldName: "note", varIndex: "x", selectCondition: "not null", fieldType: "string" })).rows,
    ).toEqual([{ name: "alice" }, { name: "O'Brien" }]);
  });

  it("mode 3 returns values the way xingchen-db's JSON did: bigint and numeric as numbers, dates as text", async () => {
    const out = await outputsOf(
      dbFlow({
        mode: 3,
        tableName: "users",
        cases: where([{ fieldName: "name", varIndex: "alice", selectCondition: "=" }]),
        limit: 1,
      }),
    );
    expect(out.rows).toEqual([
      {
        id: 1,
        name: "alice",
        age: 30,
        email: "alice@example.com",
        note: "likes tea",
        tags: null,
        score: 12.5,
        born: "1994-05-01",
      },
    ]);
  });

  it("mode 4 deletes where cases[0] holds and outputs no outputList", async () => {
    const { outcome, frames } = await run(
      dbFlow(
        { mode: 4, tableName: "users", cases: where([{ fieldName: "age", varIndex: "limit", selectCondition: "<" }]) },
        [{ name: "limit", value: 31 }],
      ),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { ok: true, msg: "success" } });
    expect(await names()).toEqual(["carol", "O'Brien"]);
    const end = frames.find(
      (f) => f.workflow_step?.node?.id === DB && f.workflow_step.node.finish_reason === "stop",
    ) as Frame;
    expect(Object.keys(end.workflow_step?.node?.outputs ?? {})).toEqual(["isSuccess", "message"]);
  });

  it("mode 0 runs custom SQL with {{name}} placeholders as parameters, quoted or not, and returns rows as-is", async () => {
    const sql =
      "select name, age from users where age > {{min}} and (name = '{{exact}}' or email like '%{{domain}}') order by id";
    const out = await outputsOf(
      dbFlow({ mode: 0, sql }, [
        { name: "min", value: 26 },
        { name: "exact", value: "carol" },
        { name: "domain", value: "@example.com" },
      ]),
    );
    expect(out.rows).toEqual([
      { name: "alice", age: 30 },
      { name: "carol", age: 41 },
      { name: "O'Brien", age: 52 },
    ]);
    const ins = await outputsOf(
      dbFlow({ mode: 0, sql: "insert into users (name, tags) values ({{n}}, {{t}}) returning name, tags" }, [
        { name: "n", value: "erin" },
        { name: "t", value: '{"vip":true}' },
      ]),
    );
    expect(ins.rows).toEqual([{ name: "erin", tags: { vip: true } }]);
  });

  it("runs with env prod for release runs and the request's uid, never the node's own uid", async () => {
    const sql =
      "select current_setting('astron.env') as env, current_setting('astron.uid') as uid, current_setting('astron.app_id') as app, current_setting('astron.space_id') as space";
    const debug = await outputsOf(dbFlow({ mode: 0, sql, spaceId: 9 }));
    expect(debug.rows).toEqual([{ env: "test", uid: "u1", app: "app1", space: "9" }]);
    const release = await outputsOf(dbFlow({ mode: 0, sql }), {
      info: { ...runInfo(), isRelease: true, uid: "caller42" },
    });
    expect(release.rows).toEqual([{ env: "prod", uid: "caller42", app: "app1", space: "" }]);
  });

  it("routes a dbId (and dbId:env) to its own database through DATABASE_URLS", async () => {
    await admin.unsafe("drop database if exists other").catch(() => undefined);
    await admin.unsafe("create database other");
    const other = pg.url.replace(/\/postgres$/, "/other");
    const routed = createSqlPort({
      DATABASE_URL: pg.url,
      DATABASE_URLS: JSON.stringify({ "7": other, "8:prod": other }),
    });
    try {
      const dbName = async (dbId: number, release: boolean): Promise<unknown> =>
        (
          await outputsOf(dbFlow({ mode: 0, sql: "select current_database() as db", dbId }), {
            sql: routed,
            info: { ...runInfo(), isRelease: release },
          })
        ).rows[0]?.db;
      expect(await dbName(7, false)).toBe("other");
      expect(await dbName(8, false)).toBe("postgres");
      expect(await dbName(8, true)).toBe("other");
    } finally {
      await routed.close();
    }
  });
});

describe("database node: injection attempts stay data", () => {
  const DROP = "'; DROP TABLE users; --";

  it("an insert stores a DROP TABLE text verbatim", async () => {
    const out = await outputsOf(
      dbFlow({ mode: 1, tableName: "users" }, [
        { name: "name", value: DROP },
        { name: "email", value: "x'),('y" },
      ]),
    );
    expect(out.rows).toMatchObject([{ name: DROP, email: "x'),('y" }]);
    expect(await tableExists()).toBe(true);
    expect(await names()).toEqual(["alice", "bob", "carol", "O'Brien", DROP]);
  });

  it("a WHERE value of 1 OR 1=1 or x' OR '1'='1 matches nothing and changes nothing", async () => {
    for (const evil of ["1 OR 1=1", "x' OR '1'='1", DROP]) {
      const upd = await outputsOf(
        dbFlow(
          {
            mode: 2,
            tableName: "users",
            assignmentList: ["note"],
            cases: where([{ fieldName: "name", varIndex: "who", selectCondition: "=" }]),
          },
          [
            { name: "note", value: "pwned" },
            { name: "who", value: evil },
          ],
        ),
      );
      expect(upd.rows).toEqual([]);
      const del = await run(
        dbFlow(
          { mode: 4, tableName: "users", cases: where([{ fieldName: "name", varIndex: "who", selectCondition: "=" }]) },
          [{ name: "who", value: evil }],
        ),
      );
      expect(del.outcome.status).toBe("completed");
    }
    // compared with an integer column, the text is refused by the database as a value, not run as SQL
    const num = await run(
      dbFlow(
        { mode: 4, tableName: "users", cases: where([{ fieldName: "id", varIndex: "who", selectCondition: "=" }]) },
        [{ name: "who", value: "1 OR 1=1" }],
      ),
    );
    expect(num.outcome).toMatchObject({
      status: "failed",
      error: { code: 21000, message: expect.stringContaining("22P02") },
    });
    expect(await tableExists()).toBe(true);
    expect(await admin`select count(*)::int as n from users where note = 'pwned'`).toEqual([{ n: 0 }]);
    expect(await names()).toEqual(["alice", "bob", "carol", "O'Brien"]);
  });

  it("quotes and wildcards in a like pattern are text: O'Brien is found, nothing escapes the literal", async () => {
    const like = (v: string) =>
      outputsOf(
        dbFlow(
          {
            mode: 3,
            tableName: "users",
            assignmentList: ["name"],
            cases: where([{ fieldName: "name", varIndex: "q", selectCondition: "like" }]),
            limit: 10,
          },
          [{ name: "q", value: v }],
        ),
      );
    expect((await like("'Bri")).rows).toEqual([{ name: "O'Brien" }]);
    expect((await like("%' OR name LIKE '%")).rows).toEqual([]);
  });

  it("a {{placeholder}} in custom SQL cannot add SQL, inside quotes or not", async () => {
    const quoted = await outputsOf(
      dbFlow({ mode: 0, sql: "select name from users where name = '{{who}}'" }, [
        { name: "who", value: "x'; DELETE FROM users; --" },
      ]),
    );
    expect(quoted.rows).toEqual([]);
    const bare = await run(
      dbFlow({ mode: 0, sql: "delete from users where id = {{id}}" }, [{ name: "id", value: "1 OR 1=1" }]),
    );
    expect(bare.outcome).toMatchObject({ status: "failed", error: { code: 21000 } });
    const union = await outputsOf(
      dbFlow({ mode: 0, sql: "select name from users where email = {{e}}" }, [
        { name: "e", value: "' UNION SELECT usename FROM pg_user --" },
      ]),
    );
    expect(union.rows).toEqual([]);
    expect(await tableExists()).toBe(true);
    expect(await names()).toEqual(["alice", "bob", "carol", "O'Brien"]);
  });

  it("a stacked statement in custom SQL is refused by the database, not run", async () => {
    const { outcome } = await run(dbFlow({ mode: 0, sql: "select 1; drop table users" }));
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 21000, message: expect.stringContaining("42601") },
    });
    expect(await tableExists()).toBe(true);
  });
});

describe("database node: identifiers", () => {
  const compileCode = (dsl: unknown): number | undefined => caught(() => compile(dsl, registry))?.code;

  it("rejects table, column and order names that are not identifiers at build time (22101)", () => {
    expect(compileCode(dbFlow({ mode: 3, tableName: "users; drop table users" }))).toBe(22101);
    expect(compileCode(dbFlow({ mode: 3, tableName: "users", assignmentList: ["name, (select 1)"] }))).toBe(22101);
    expect(
      compileCode(dbFlow({ mode: 3, tableName: "users", orderData: [{ fieldName: "id desc, name", order: "asc" }] })),
    ).toBe(22101);
    expect(
      compileCode(
        dbFlow({
          mode: 3,
          tableName: "users",
          cases: where([{ fieldName: "1=1 or id", varIndex: "x", selectCondition: "=" }]),
        }),
      ),
    ).toBe(22101);
    expect(compileCode(dbFlow({ mode: 1, tableName: "users" }, [{ name: 'na"me', value: "x" }]))).toBe(22101);
    expect(
      compileCode(dbFlow({ mode: 3, tableName: "users", orderData: [{ fieldName: "id", order: "sideways" }] })),
    ).toBe(22101);
  });

  it("rejects missing keys per mode at build time: sql for 0, tableName for 1-4, a condition for update and delete", () => {
    expect(compileCode(dbFlow({ mode: 0 }))).toBe(22101);
    expect(compileCode(dbFlow({ mode: 3 }))).toBe(22101);
    expect(compileCode(dbFlow({ mode: 2, tableName: "users", assignmentList: ["age"] }))).toBe(22101);
    expect(compileCode(dbFlow({ mode: 4, tableName: "users", cases: where([]) }))).toBe(22101);
    expect(compileCode(dbFlow({ mode: 5, tableName: "users" }))).toBe(22101);
  });

  it("quotes identifiers lowercased as PostgreSQL folds them, so Users and reserved words work", async () => {
    expect(quoteIdent("Users")).toBe('"users"');
    await admin.unsafe('create table if not exists "order" ("select" text)');
    await admin.unsafe(`insert into "order" values ('ok')`);
    const out = await outputsOf(dbFlow({ mode: 3, tableName: "Order", assignmentList: ["select"], limit: 5 }));
    expect(out.rows).toEqual([{ select: "ok" }]);
    await admin.unsafe('drop table "order"');
  });
});

describe("database node: custom SQL placeholders (pure)", () => {
  it("leaves comments, identifiers and dollar-quoted bodies alone and keeps E'' escapes", () => {
    const s = buildCustom("select \"{{a}}\", $$ {{a}} $$ /* {{a}} */ -- {{a}}\n, E'\\t{{a}}', {{a}}", { a: "v" });
    expect(s.text).toBe("select \"{{a}}\", $$ {{a}} $$ /* {{a}} */ -- {{a}}\n, (E'\\t' || $1::text), $2");
    expect(s.params).toEqual(["v", "v"]);
  });

  it("keeps unknown placeholders as written and refuses the user's own $1 markers (21002)", () => {
    expect(buildCustom("select '{{nope}}', {{x}}", { x: 1 })).toEqual({ text: "select '{{nope}}', $1", params: [1] });
    expect(caught(() => buildCustom("select $1", {}))?.code).toBe(21002);
    // a `$` inside an identifier is not a marker
    expect(buildCustom("select price$1 from t where a = {{x}}", { x: 2 })).toEqual({
      text: "select price$1 from t where a = $1",
      params: [2],
    });
  });
});

describe("database node: limits", () => {
  it("truncates the result at DATABASE_MAX_ROWS and says so", async () => {
    await admin`insert into users (name, age) select 'bulk' || g, g from generate_series(1, 50) g`;
    const out = await outputsOf(
      dbFlow({
        mode: 3,
        tableName: "users",
        assignmentList: ["id"],
        orderData: [{ fieldName: "id", order: "asc" }],
        limit: 1000,
      }),
      { config: { DATABASE_MAX_ROWS: "5" } },
    );
    expect(out.rows).toEqual([1, 2, 3, 4, 5].map((id) => ({ id })));
    expect(out.msg).toBe("success (truncated to 5 rows)");
    // a write is complete even when its returned rows are cut
    const upd = await outputsOf(dbFlow({ mode: 0, sql: "update users set note = 'seen' returning id" }), {
      config: { DATABASE_MAX_ROWS: "3" },
    });
    expect(upd.rows).toHaveLength(3);
    expect(await admin`select count(*)::int as n from users where note = 'seen'`).toEqual([{ n: 54 }]);
  });

  it("stops a slow query at DATABASE_TIMEOUT_MS with 21001, and nothing keeps running on the server", async () => {
    const t0 = Date.now();
    const { outcome } = await run(dbFlow({ mode: 0, sql: "select pg_sleep(5)" }), {
      config: { DATABASE_TIMEOUT_MS: "300" },
    });
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 21001, message: expect.stringContaining("time limit of 300 ms") },
    });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(
      await admin`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'`,
    ).toEqual([{ n: 0 }]);
  });

  it("a cancelled run cancels its query on the server", async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error("client gone")), 300);
    const t0 = Date.now();
    const { outcome } = await run(dbFlow({ mode: 0, sql: "select pg_sleep(5)" }), { signal: abort.signal });
    expect(outcome.status).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 200));
    expect(
      await admin`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'`,
    ).toEqual([{ n: 0 }]);
  });

  it("with retries on, the attempt timeout is the retry timeout (22302, spec §6.7) and the query is cancelled", async () => {
    const t0 = Date.now();
    const { outcome } = await run(
      dbFlow({ mode: 0, sql: "select pg_sleep(5)" }, [], {
        retry: { shouldRetry: true, timeout: 0.4, maxRetries: 0, errorStrategy: 0 },
      }),
      { config: { DATABASE_TIMEOUT_MS: "60000" } },
    );
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 22302, message: expect.stringContaining("Node execution timeout") },
    });
    expect(Date.now() - t0).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 200));
    expect(
      await admin`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'`,
    ).toEqual([{ n: 0 }]);
  });
});

describe("database node: errors, retries and strategies", () => {
  const failing = { mode: 0, sql: "select nextval('attempts') / 0 as x" };
  const attempts = async (): Promise<number> =>
    Number(
      (await admin`select last_value, is_called from attempts`)[0]?.is_called
        ? (await admin`select last_value from attempts`)[0]?.last_value
        : 0,
    );

  it("maps a database error to 21000 with its SQLSTATE, and a missing table too", async () => {
    expect((await run(dbFlow(failing))).outcome).toMatchObject({
      status: "failed",
      error: { code: 21000, message: expect.stringContaining("22012") },
    });
    expect((await run(dbFlow({ mode: 3, tableName: "nope", limit: 1 }))).outcome).toMatchObject({
      status: "failed",
      error: { code: 21000, message: expect.stringContaining("42P01") },
    });
  });

  it("fails with 21001 without a database port, 21002 without dbId or with an update input missing", async () => {
    expect((await run(dbFlow({ mode: 0, sql: "select 1" }), { sql: undefined })).outcome).toMatchObject({
      status: "failed",
      error: { code: 21001, message: expect.stringContaining("DATABASE_URL") },
    });
    expect((await run(dbFlow({ mode: 0, sql: "select 1", dbId: null }))).outcome).toMatchObject({
      status: "failed",
      error: { code: 21002 },
    });
    const upd = {
      mode: 2,
      tableName: "users",
      assignmentList: ["age"],
      cases: where([{ fieldName: "id", varIndex: "1", selectCondition: "=" }]),
    };
    expect((await run(dbFlow(upd))).outcome).toMatchObject({
      status: "failed",
      error: { code: 21002, message: expect.stringContaining("no input named age") },
    });
  });

  it("retries maxRetries times, then strategy 0 fails the run with 21000", async () => {
    const { outcome } = await run(
      dbFlow(failing, [], { retry: { shouldRetry: true, timeout: 5, maxRetries: 2, errorStrategy: 0 } }),
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 21000 } });
    expect(await attempts()).toBe(3);
  });

  it("strategy 1 gives the custom output with the error in error_outputs", async () => {
    const { outcome, frames } = await run(
      dbFlow(failing, [], {
        retry: {
          shouldRetry: true,
          timeout: 5,
          maxRetries: 1,
          errorStrategy: 1,
          customOutput: { isSuccess: false, message: "fallback", outputList: [] },
        },
      }),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { ok: false, msg: "fallback", rows: [] } });
    expect(await attempts()).toBe(2);
    const end = frames.find(
      (f) => f.workflow_step?.node?.id === DB && f.workflow_step.node.finish_reason === "stop",
    ) as Frame;
    expect(end.workflow_step?.node?.error_outputs).toMatchObject({
      errorCode: 21000,
      errorMessage: expect.stringContaining("division by zero"),
    });
  });

  it("strategy 2 takes only the fail branch", async () => {
    const b: FlowBuilder = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("noop::ok")
      .node("noop::failed", { inputs: [{ name: "code", type: "integer", ref: { node: DB, name: "errorCode" } }] })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "err", type: "integer", ref: { node: DB, name: "errorCode" } }],
      });
    b.nodes.push(dbNode(failing, [], { retry: { shouldRetry: true, timeout: 5, maxRetries: 0, errorStrategy: 2 } }));
    b.edge(START, DB)
      .edge(DB, "noop::ok")
      .edge(DB, "noop::failed", "intent_chain|fail_one_of::f1")
      .edge("noop::ok", END)
      .edge("noop::failed", END);
    const scripts = new Scripts();
    const { outcome } = await runFlow(b.build(), opts({ registry: testRegistry(scripts), scripts }));
    expect(outcome).toMatchObject({ status: "completed", outputs: { err: 21000 } });
    expect(scripts.callsOf("noop::ok")).toBe(0);
    expect(scripts.callsOf("noop::failed")).toBe(1);
  });
});

describe("database node: the connection secret stays secret", () => {
  it("a wrong password, a refused port and a bad DATABASE_URLS never show the password or the URL", async () => {
    const wrongPw = pg.url.replace(encodeURIComponent(pg.password), "Wr0ng-s3cret-pw");
    const refused = pg.url.replace(`:${pg.port}/`, ":1/");
    for (const env of [
      { DATABASE_URL: wrongPw },
      { DATABASE_URL: refused },
      { DATABASE_URLS: JSON.stringify({ "1": refused }) },
      { DATABASE_URLS: `{"1": "${refused}"` },
    ]) {
      const p = createSqlPort(env, { connectTimeoutSec: 2 });
      try {
        const { outcome, frames } = await run(dbFlow({ mode: 0, sql: "select 1" }), { sql: p });
        expect(outcome).toMatchObject({ status: "failed", error: { code: 21000 } });
        const seen = JSON.stringify({ outcome, frames });
        for (const secret of ["Wr0ng-s3cret-pw", pg.password, wrongPw, refused, "127.0.0.1"])
          expect(seen).not.toContain(secret);
      } finally {
        await p.close();
      }
    }
  });
});

describe("database connection pool (issue 13)", () => {
  const POOL_DB = "node_pool";
  const poolUrl = (): string => {
    const u = new URL(pg.url);
    u.pathname = `/${POOL_DB}`;
    return u.toString();
  };
  const connections = async (): Promise<number> =>
    (await admin`select count(*)::int as n from pg_stat_activity where datname = ${POOL_DB}`)[0]?.n as number;
  const until = async (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return check();
  };
  const failed = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );
  const target = { dbId: "1", appId: "app1", env: "test" as const, uid: "u" };
  const limits = (timeoutMs = 5000, signal = new AbortController().signal) => ({ timeoutMs, maxRows: 10, signal });

  beforeAll(async () => {
    await admin.unsafe(`drop database if exists ${POOL_DB} with (force)`);
    await admin.unsafe(`create database ${POOL_DB}`);
    const db = postgres(poolUrl(), { max: 1, onnotice: () => undefined });
    await db.unsafe("create table queued (n int)");
    await db.end({ timeout: 1 });
  });

  it("takes its size and idle timeout from DATABASE_POOL_MAX and DATABASE_POOL_IDLE_SEC, small by default and capped", () => {
    expect(poolOptions({})).toEqual({ maxConnections: 5, idleTimeoutSec: 10 });
    expect(poolOptions({ DATABASE_POOL_MAX: "8", DATABASE_POOL_IDLE_SEC: "2" })).toEqual({
      maxConnections: 8,
      idleTimeoutSec: 2,
    });
    expect(poolOptions({ DATABASE_POOL_MAX: "100000", DATABASE_POOL_IDLE_SEC: "1e9" })).toEqual({
      maxConnections: 100,
      idleTimeoutSec: 600,
    });
    expect(poolOptions({ DATABASE_POOL_MAX: "0", DATABASE_POOL_IDLE_SEC: "-5" })).toEqual({
      maxConnections: 1,
      idleTimeoutSec: 0,
    });
    expect(poolOptions({ DATABASE_POOL_MAX: "many", DATABASE_POOL_IDLE_SEC: "" })).toEqual({
      maxConnections: 5,
      idleTimeoutSec: 10,
    });
  });

  it("400 statements at concurrency 20 through one port never open more than DATABASE_POOL_MAX connections, and idle ones close", async () => {
    const p = createSqlPort(
      { DATABASE_URL: poolUrl() },
      poolOptions({ DATABASE_POOL_MAX: "3", DATABASE_POOL_IDLE_SEC: "1" }),
    );
    let loading = true;
    let peak = 0;
    const sampler = (async () => {
      while (loading) {
        peak = Math.max(peak, await connections());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let next = 0;
    const results: unknown[] = [];
    try {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (next < 400) {
            const n = next++;
            results[n] = (await p.query(target, "select $1::int as n from pg_sleep(0.002)", [n], limits())).rows[0]?.n;
          }
        }),
      );
    } finally {
      loading = false;
      await sampler;
    }
    expect(results).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
    expect(await until(async () => (await connections()) === 0, 5000)).toBe(true);
    await p.close();
  });

  it("a statement whose caller gave up while it waited for a connection never runs (time limit, then cancel)", async () => {
    const p = createSqlPort({ DATABASE_URL: poolUrl() }, { maxConnections: 1 });
    try {
      const holder = p.query(target, "select pg_sleep(2)", [], limits(5000));
      // waits behind the holder for its one connection, past its own limit (100 ms + the 1 s client grace)
      const timedOut = await failed(p.query(target, "insert into queued (n) values (1)", [], limits(100)));
      expect(timedOut).toMatchObject({ code: 21001 });
      const abort = new AbortController();
      const cancelled = p.query(target, "insert into queued (n) values (2)", [], limits(5000, abort.signal));
      abort.abort(new Error("run cancelled"));
      await expect(cancelled).rejects.toThrow("run cancelled");
      await holder;
      // the pool's connection is free again: a later statement runs, the two abandoned ones did not
      await p.query(target, "insert into queued (n) values (3)", [], limits());
      expect((await p.query(target, "select n from queued order by n", [], limits())).rows).toEqual([{ n: 3 }]);
    } finally {
      await p.close();
    }
  });

  it("uses the HYPERDRIVE binding's connection string instead of DATABASE_URL, keeps DATABASE_URLS first, and scrubs it", async () => {
    const wrong = pg.url.replace(`:${pg.port}/`, ":1/");
    const p = createSqlPort(
      {
        HYPERDRIVE: { connectionString: poolUrl() },
        DATABASE_URL: wrong,
        DATABASE_URLS: JSON.stringify({ "9": wrong }),
      },
      { connectTimeoutSec: 2 },
    );
    try {
      expect((await p.query(target, "select current_database() as db", [], limits())).rows).toEqual([{ db: POOL_DB }]);
      const mapped = await failed(p.query({ ...target, dbId: "9" }, "select 1", [], limits()));
      expect(mapped).toMatchObject({ code: 21000 });
      const bad = createSqlPort(
        { HYPERDRIVE: { connectionString: wrong.replace("astron:", "astron2:") } },
        { connectTimeoutSec: 2 },
      );
      const err = await failed(bad.query(target, "select 1", [], limits()));
      await bad.close();
      expect(err).toMatchObject({ code: 21000 });
      expect(JSON.stringify({ message: (err as Error).message })).not.toContain("127.0.0.1");
    } finally {
      await p.close();
    }
  });
});
