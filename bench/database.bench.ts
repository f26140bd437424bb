// Database node benchmark (issue 4): the node's added time over a direct query with the same driver (`postgres`)
// on the same server, in the same run. Run: `node bench/database.bench.ts` (starts its own PostgreSQL on loopback,
// as test/support/postgres-server.ts does). Prints JSON lines and writes bench/results-database.md.
//
// Figures (medians of ROUNDS rounds of N sequential calls, per call):
//   direct    sql.unsafe(text, params) on a pool of the driver (prepared statement, one round trip)
//   port      SqlPort.query with the same text: reserved connection, pipelined settings statement, cursor
//   node      the database plugin's run(): builds the parameterised SELECT from nodeParam, calls the port, projects
//   flow      start → database → end through the engine, minus the same flow without the database node
// and the connection pool (issue 13): LOAD_RUNS flows at concurrency LOAD_CONCURRENCY whose statement holds its
// connection ~10 ms, (a) every run on one shared port of DATABASE_POOL_MAX connections (what the SqlPool object
// does for a deployment), (b) every run on a port of its own, as RunObjects had before (3 connections each, idle
// ones kept 30 s): peak connections (pg_stat_activity, sampled every 5 ms), failed runs, wall time.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { compile } from "../src/engine/compile.ts";
import { Run } from "../src/engine/run.ts";
import { createSqlPort, DEFAULT_POOL_MAX, type ClosableSqlPort } from "../src/durable/sql.ts";
import database from "../src/plugins/database.ts";
import { registry } from "../src/plugins/index.ts";
import { nodeContext } from "../test/support/node-context.ts";
import { startPostgres } from "../test/support/postgres-server.ts";

const N = 400;
const ROUNDS = 7;
const LOAD_RUNS = 1000;
const LOAD_CONCURRENCY = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * Per-call medians of several variants, measured in interleaved rounds (A B C … A B C …) so that the load of a
 * shared machine falls on every variant alike.
 */
async function interleaved(variants: Record<string, (i: number) => Promise<unknown>>): Promise<Record<string, number>> {
  const names = Object.keys(variants);
  for (const name of names) for (let i = 0; i < 100; i++) await variants[name]!(i); // warm-up: connections, prepared statements, JIT
  const rounds: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) {
      const fn = variants[name]!;
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await fn(i);
      rounds[name]!.push((performance.now() - t0) / N);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(rounds[n]!)]));
}

const pg = await startPostgres();
const direct = postgres(pg.url, { max: 3, onnotice: () => undefined });
const port = createSqlPort({ DATABASE_URL: pg.url });
try {
  await direct.unsafe(`
    create table users (id bigserial primary key, name text, age int, email text);
    insert into users (name, age, email) select 'user' || g, 20 + g % 50, 'u' || g || '@example.com' from generate_series(1, 1000) g;
    analyze users;
  `);
  const text = 'SELECT "name", "age" FROM "users" WHERE "id" = $1 LIMIT $2';
  const params = {
    appId: "app1",
    apiKey: "k",
    uid: "u",
    dbId: 1,
    mode: 3,
    tableName: "users",
    assignmentList: ["name", "age"],
    cases: [{ logicalOperator: "and", conditions: [{ fieldName: "id", varIndex: "id", selectCondition: "=" }] }],
    limit: 1,
  };
  const parsed = database.params.parse(params);
  const target = { dbId: "1", appId: "app1", env: "test" as const, uid: "u" };
  const limits = { timeoutMs: 10_000, maxRows: 1000, signal: new AbortController().signal };

  const check = await port.query(target, text, [7, 1], limits);
  if (check.rows[0]?.name !== "user7") throw new Error(`unexpected row ${JSON.stringify(check.rows)}`);

  const runNode = async (i: number): Promise<void> => {
    const ctx = {
      ...nodeContext({
        type: "database",
        inputs: { id: (i % 1000) + 1 },
        outputs: ["isSuccess", "message", "outputList"],
      }),
      sql: port,
    };
    const r = await database.run(ctx, parsed);
    if (!("outputs" in r)) throw new Error("no outputs");
  };

  const flowOf = (withDb: boolean): unknown => ({
    data: {
      nodes: [
        {
          id: "node-start::s",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "Start" },
            inputs: [],
            outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
            nodeParam: {},
          },
        },
        ...(withDb
          ? [
              {
                id: "database::d",
                data: {
                  nodeMeta: { nodeType: "b", aliasName: "DB" },
                  inputs: [{ name: "id", schema: { type: "integer", value: { type: "literal", content: 7 } } }],
                  outputs: [
                    { name: "isSuccess", schema: { type: "boolean" } },
                    { name: "message", schema: { type: "string" } },
                    { name: "outputList", schema: { type: "array" } },
                  ],
                  nodeParam: params,
                },
              },
            ]
          : []),
        {
          id: "node-end::e",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "End" },
            inputs: [],
            outputs: [],
            nodeParam: { outputMode: 0 },
          },
        },
      ],
      edges: withDb
        ? [
            { sourceNodeId: "node-start::s", targetNodeId: "database::d" },
            { sourceNodeId: "database::d", targetNodeId: "node-end::e" },
          ]
        : [{ sourceNodeId: "node-start::s", targetNodeId: "node-end::e" }],
    },
  });
  const planDb = compile(flowOf(true), registry);
  const planBare = compile(flowOf(false), registry);
  const info = {
    sid: "s",
    eventId: "e",
    flowId: "f",
    appId: "app1",
    uid: "u",
    chatId: "",
    isRelease: false,
    history: [],
  };
  const runPlan = async (plan: typeof planDb): Promise<void> => {
    const outcome = await new Run(plan, {
      registry,
      sid: "s",
      info,
      parameters: { AGENT_USER_INPUT: "q" },
      emit: () => undefined,
      sql: port,
    }).execute();
    if (outcome.status !== "completed") throw new Error(`flow ${outcome.status}: ${JSON.stringify(outcome)}`);
  };
  const m = await interleaved({
    direct: (i) => direct.unsafe(text, [(i % 1000) + 1, 1]),
    port: (i) => port.query(target, text, [(i % 1000) + 1, 1], limits),
    node: runNode,
    flowDb: () => runPlan(planDb),
    flowBare: () => runPlan(planBare),
  });
  const [directMs, portMs, nodeMs, flowDbMs, flowBareMs] = [m.direct!, m.port!, m.node!, m.flowDb!, m.flowBare!];

  // ---- the pool under load ----
  const loadPlan = compile(
    {
      data: {
        nodes: [
          {
            id: "node-start::s",
            data: {
              nodeMeta: { nodeType: "b", aliasName: "Start" },
              inputs: [],
              outputs: [
                { name: "AGENT_USER_INPUT", schema: { type: "string" } },
                { name: "n", schema: { type: "integer" } },
              ],
              nodeParam: {},
            },
          },
          {
            id: "database::d",
            data: {
              nodeMeta: { nodeType: "b", aliasName: "DB" },
              inputs: [
                {
                  name: "n",
                  schema: { type: "integer", value: { type: "ref", content: { nodeId: "node-start::s", name: "n" } } },
                },
              ],
              outputs: [
                { name: "isSuccess", schema: { type: "boolean" } },
                { name: "message", schema: { type: "string" } },
                { name: "outputList", schema: { type: "array" } },
              ],
              nodeParam: {
                appId: "app1",
                apiKey: "k",
                uid: "u",
                dbId: 1,
                mode: 0,
                sql: "select {{n}}::int as n from pg_sleep(0.01)",
              },
            },
          },
          {
            id: "node-end::e",
            data: {
              nodeMeta: { nodeType: "b", aliasName: "End" },
              inputs: [],
              outputs: [],
              nodeParam: { outputMode: 0 },
            },
          },
        ],
        edges: [
          { sourceNodeId: "node-start::s", targetNodeId: "database::d" },
          { sourceNodeId: "database::d", targetNodeId: "node-end::e" },
        ],
      },
    },
    registry,
  );
  const ours = async (): Promise<number> =>
    Number(
      (await direct`select count(*)::int as n from pg_stat_activity where application_name = 'astron-edge-workflow'`)[0]
        ?.n,
    );
  const underLoad = async (
    portFor: () => ClosableSqlPort,
  ): Promise<{ peak: number; failed: number; ms: number; firstError: string }> => {
    let loading = true;
    let peak = 0;
    const sampler = (async () => {
      while (loading) {
        peak = Math.max(peak, await ours());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let next = 0;
    let failed = 0;
    let firstError = "";
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async () => {
        while (next < LOAD_RUNS) {
          const n = next++;
          const outcome = await new Run(loadPlan, {
            registry,
            sid: "s",
            info: { ...info, eventId: `e${n}` },
            parameters: { AGENT_USER_INPUT: "q", n },
            emit: () => undefined,
            sql: portFor(),
          }).execute();
          if (outcome.status !== "completed") {
            failed++;
            firstError ||= JSON.stringify(outcome.status === "failed" ? outcome.error : outcome.status);
          }
        }
      }),
    );
    const ms = performance.now() - t0;
    loading = false;
    await sampler;
    return { peak, failed, ms, firstError };
  };
  // the measurements above left the port's connection open: only the load's own connections count below
  await port.close();
  while ((await ours()) > 0) await new Promise((r) => setTimeout(r, 20));
  const shared = createSqlPort({ DATABASE_URL: pg.url });
  const pooled = await underLoad(() => shared);
  await shared.close();
  const perRun: ClosableSqlPort[] = [];
  const before = await underLoad(() => {
    const p = createSqlPort({ DATABASE_URL: pg.url }, { maxConnections: 3, idleTimeoutSec: 30 });
    perRun.push(p);
    return p;
  });
  await Promise.all(perRun.map((p) => p.close()));
  const maxConnections = Number((await direct`select current_setting('max_connections') as v`)[0]?.v);
  const load = (await import("node:os")).loadavg()[0]!.toFixed(1);

  const figures = {
    direct_ms: directMs,
    port_ms: portMs,
    node_ms: nodeMs,
    node_added_ms: nodeMs - directMs,
    flow_with_db_ms: flowDbMs,
    flow_without_db_ms: flowBareMs,
    flow_db_added_over_direct_ms: flowDbMs - flowBareMs - directMs,
  };
  for (const [variant, r] of Object.entries({ pooled, per_run: before }))
    console.log(
      JSON.stringify({
        bench: "database-pool",
        variant,
        runs: LOAD_RUNS,
        concurrency: LOAD_CONCURRENCY,
        peak_connections: r.peak,
        failed_runs: r.failed,
        ms: Math.round(r.ms),
      }),
    );
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const fixed = (x: number): string => x.toFixed(3);
  for (const [k, v] of Object.entries(figures))
    console.log(
      JSON.stringify({ bench: "database", figure: k, value: round(v), unit: "ms/call", n: N, rounds: ROUNDS }),
    );
  const version = (await direct`select current_setting('server_version') as v`)[0]?.v as string;
  const md = `# Database node benchmark (issue 4)

\`node bench/database.bench.ts\` — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, PostgreSQL ${version} on loopback (own temp
cluster, fsync off), ${N} sequential calls per round, median of ${ROUNDS} interleaved rounds, per call; 1-minute load
average at the end: ${load} (a shared 2-core machine: absolute figures are inflated, compare within a run). Query: a primary-key
SELECT of two columns (one row) from a 1000-row table, the same text and parameters in every line.

| figure | ms/call |
| --- | ---: |
| direct query, same driver (\`sql.unsafe\`, prepared, one round trip) | ${fixed(directMs)} |
| SqlPort.query (reserved connection, pipelined settings statement, cursor) | ${fixed(portMs)} |
| database node \`run()\` (build SQL from nodeParam, port, outputs) | ${fixed(nodeMs)} |
| **node added over the direct query** | **${fixed(nodeMs - directMs)}** |
| flow start → database → end | ${fixed(flowDbMs)} |
| flow start → end | ${fixed(flowBareMs)} |
| flow: database node's share minus the direct query | ${fixed(flowDbMs - flowBareMs - directMs)} |

Connection pool (issue 13): ${LOAD_RUNS} runs of start → database → end at concurrency ${LOAD_CONCURRENCY}, the statement
holding its connection ~10 ms (\`select n from pg_sleep(0.01)\`); the server allows ${maxConnections} connections.

| runs share | peak connections | failed runs | wall time |
| --- | ---: | ---: | ---: |
| one pool of DATABASE_POOL_MAX = ${DEFAULT_POOL_MAX} (the SqlPool object's port) | ${pooled.peak} | ${pooled.failed} | ${(pooled.ms / 1000).toFixed(1)} s |
| nothing: a port per run (before: 3 connections, idle kept 30 s) | ${before.peak} | ${before.failed} | ${(before.ms / 1000).toFixed(1)} s |

${before.firstError ? `First failure of the per-run ports: \`${before.firstError.replaceAll(pg.url, "***")}\`.` : ""}

Target: ≤ 2 ms added. The added time is the price of preceding each statement with a
server-side \`statement_timeout\` and the \`astron.uid/app_id/env/space_id\` settings: a second statement pipelined
ahead of the query on a reserved connection (same round trip, but the server parses/executes it), plus reading
rows through a cursor (the row limit).
`;
  writeFileSync(join(import.meta.dirname, "results-database.md"), md);
} finally {
  await port.close();
  await direct.end({ timeout: 1 });
  await pg.stop();
}
