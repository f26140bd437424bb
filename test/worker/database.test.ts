// The database node inside workerd (issue 4): the `postgres` driver's workerd build (cloudflare:sockets under
// nodejs_compat) through createSqlPort, against the real PostgreSQL the global setup starts on loopback
// (test/support/postgres-service.ts). SCRAM auth, parameters, the row and time limits and secret scrubbing all run
// on the Workers runtime here, not on Node.
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSqlPort } from "../../src/durable/sql.ts";
import type { SqlPort } from "../../src/engine/plugin.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type Json } from "../support/dsl-builder.ts";
import { runFlow } from "../support/engine-harness.ts";

// Connections here are never closed by the test (no end(), no idle timeout): postgres@3.4.9's workerd socket
// polyfill rejects its pending read when the driver closes a socket, after the driver removed its listeners, so every
// close leaves an unhandled rejection that fails the run (porsager/postgres#1196, #1202). The isolate's teardown
// closes them; a server-side close (a refused password, a cancel request) is clean.
const url = inject("postgresUrl");
const TABLE = "wd_people";
const DB = "database::d";
let admin: postgres.Sql;
let port: SqlPort;

beforeAll(async () => {
  admin = postgres(url, { max: 1, onnotice: () => undefined });
  await admin.unsafe(
    `drop table if exists ${TABLE}; create table ${TABLE} (id bigserial primary key, name text, age int)`,
  );
  await admin.unsafe(`insert into ${TABLE} (name, age) select 'p' || g, g from generate_series(1, 30) g`);
  port = createSqlPort({ DATABASE_URL: url }, { idleTimeoutSec: 0 });
});

afterAll(async () => {
  await admin?.unsafe(`drop table if exists ${TABLE}`).catch(() => undefined);
});

function dbFlow(params: Record<string, Json>, inputs: { name: string; value: Json }[] = []): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(DB, {
      params: { appId: "app1", apiKey: "k", uid: "u", dbId: 1, ...params },
      inputs: inputs.map((i) => ({
        name: i.name,
        type: typeof i.value === "number" ? "integer" : "string",
        literal: i.value,
      })),
      outputs: [{ name: "isSuccess", type: "boolean" }, { name: "message" }, { name: "outputList", type: "array" }],
    })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "msg", ref: { node: DB, name: "message" } },
        { name: "rows", type: "array", ref: { node: DB, name: "outputList" } },
      ],
    })
    .edge(START, DB)
    .edge(DB, END)
    .build();
}

const run = (dsl: unknown, over: Parameters<typeof runFlow>[1] = {}) =>
  runFlow(dsl, { registry, sql: port, config: {}, parameters: { AGENT_USER_INPUT: "q" }, ...over });

describe("database node in workerd", () => {
  it("inserts and selects with parameters over a TCP socket (SCRAM auth), injection text stored as data", async () => {
    const evil = "x'); DROP TABLE wd_people; --";
    const ins = await run(
      dbFlow({ mode: 1, tableName: TABLE }, [
        { name: "name", value: evil },
        { name: "age", value: 99 },
      ]),
    );
    expect(ins.outcome).toMatchObject({
      status: "completed",
      outputs: { msg: "success", rows: [{ id: 31, name: evil, age: 99 }] },
    });
    const sel = await run(
      dbFlow({ mode: 0, sql: `select name from ${TABLE} where name = '{{n}}' or age = {{a}} order by id` }, [
        { name: "n", value: evil },
        { name: "a", value: 3 },
      ]),
    );
    expect(sel.outcome).toMatchObject({ status: "completed", outputs: { rows: [{ name: "p3" }, { name: evil }] } });
    expect(await admin`select count(*)::int as n from wd_people`).toEqual([{ n: 31 }]);
  });

  it("truncates at DATABASE_MAX_ROWS and stops pg_sleep at DATABASE_TIMEOUT_MS (21001)", async () => {
    const many = await run(
      dbFlow({
        mode: 3,
        tableName: TABLE,
        assignmentList: ["id"],
        orderData: [{ fieldName: "id", order: "asc" }],
        limit: 100,
      }),
      { config: { DATABASE_MAX_ROWS: "4" } },
    );
    expect(many.outcome).toMatchObject({
      status: "completed",
      outputs: { msg: "success (truncated to 4 rows)", rows: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] },
    });
    const t0 = Date.now();
    const slow = await run(dbFlow({ mode: 0, sql: "select pg_sleep(5)" }), { config: { DATABASE_TIMEOUT_MS: "300" } });
    expect(slow.outcome).toMatchObject({ status: "failed", error: { code: 21001 } });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("a wrong password fails with 21000 and neither the password nor the URL reaches the frames", async () => {
    const u = new URL(url);
    u.password = "Wr0ng-workerd-pw";
    const bad = createSqlPort({ DATABASE_URL: u.toString() }, { connectTimeoutSec: 3, idleTimeoutSec: 0 });
    const { outcome, frames } = await run(dbFlow({ mode: 0, sql: "select 1" }), { sql: bad });
    expect(outcome).toMatchObject({
      status: "failed",
      error: { code: 21000, message: expect.stringContaining("password authentication failed") },
    });
    const seen = JSON.stringify({ outcome, frames });
    expect(seen).not.toContain("Wr0ng-workerd-pw");
    expect(seen).not.toContain(new URL(url).password);
  });
});
