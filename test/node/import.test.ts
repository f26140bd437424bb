// `npm run import` against a real MariaDB loaded with the original's schema (test/fixtures/astron-mysql) and the rows
// of a small Astron installation: non-ASCII names, a flow with two published versions and a comparison row, a
// published flow whose DSL does not compile, a withdrawn licence and one whose app is gone. The import goes into a
// fresh local D1 state; a second run must change nothing; then `wrangler dev` on that state runs the imported flows
// through the API exactly like the same flow saved through the API.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeStream, SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { loadFixture } from "../support/fixtures.ts";
import { startMariaDb, type MariaDbHandle } from "../support/mariadb-server.ts";
import { devEnv, root, startDev } from "../support/wrangler-dev.ts";

interface Counts {
  imported: number;
  updated: number;
  unchanged: number;
}
interface Summary {
  apps: Counts;
  appSources: Counts;
  flows: Counts & { working: number; versions: number; comparisons: number };
  licences: Counts;
  doesNotCompile: { id: string; version: string; column: string; code: number; message: string; action: string }[];
  conflicts: unknown[];
  skippedLicences: { app_id: string; group_id: string }[];
}

const GROUP = "7400000000000000001"; // the working row's id is the group's id, as /protocol/add makes them
const V1 = "7400000000000000002";
const V2 = "7400000000000000003";
const COMPARISON = "7400000000000000004";
const BROKEN = "7400000000000000010";
const FLOW_NAME = "分支流程 ✓ «Zweig»";
const APP_NAME = "应用 Ünïcode ✓";

/** The if-else example flow with its message node saying `prefix: {{input}}`. */
function variant(prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const flow = loadFixture("example-core-if-else-branch.json") as {
    data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
  } & Record<string, unknown>;
  const message = flow.data.nodes.find((n) => n.id.startsWith("message::"));
  if (!message) throw new Error("fixture without a message node");
  message.data.nodeParam.template = `${prefix}: {{input}}`;
  return { ...flow, ...extra };
}

function broken(): Record<string, unknown> {
  const flow = variant("BROKEN") as { data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] } };
  const ifElse = flow.data.nodes.find((n) => n.id.startsWith("if-else::"));
  if (!ifElse) throw new Error("fixture without an if-else node");
  ifElse.data.nodeParam.cases = "not a list";
  return flow;
}

// v2.0 is the latest published version; its envelope carries a description longer than one SQL piece of the import
// (25,000 UTF-16 units), so it reaches D1 in several appended parts
const V2_DSL = JSON.stringify(variant("版本二", { description: "长".repeat(60_000) + "'end'" }));

let db: MariaDbHandle;
let conn: mysql.Connection;
let persist = "";
let child: ChildProcess | undefined;

beforeAll(async () => {
  db = await startMariaDb();
  conn = await mysql.createConnection({ uri: db.url, multipleStatements: true, supportBigNumbers: true });
  await conn.query(readFileSync(join(root, "test", "fixtures", "astron-mysql", "workflow.sql"), "utf8"));
  // MySQL ids on purpose unlike the ones D1 gives: licences must follow the app by its alias
  await conn.query(
    `INSERT INTO app (id, name, alias_id, api_key, api_secret, description, is_tenant, source, actual_source, plat_release_auth, status, create_at, update_at) VALUES
     (101, '租户', 'tnt00001', 'tk', 'ts', NULL, 1, 1, 1, 7, 1, '2025-03-01 08:00:00', '2025-03-01 08:00:00'),
     (102, ?, 'app00001', 'k1', 's1', 'runs flows', 0, 1, 1, 0, 1, '2025-03-02 09:30:00', '2025-03-02 09:30:00'),
     (103, 'withdrawn', 'app00002', 'k2', 's2', '', 0, 1, 1, 0, 1, '2025-03-03 10:00:00', '2025-03-03 10:00:00')`,
    [APP_NAME],
  );
  await conn.query(
    "INSERT INTO app_source (source, source_id, description) VALUES (1, 'xingchen', '星辰'), (2, 'open', 'Open platform'), (4, 'aiui', 'AIUI')",
  );
  const flow = `INSERT INTO flow (id, group_id, name, data, release_data, description, version, status, release_status, app_id, source, tag, create_at, update_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'app00001', 1, ?, ?, ?)`;
  const draft = JSON.stringify(variant("草稿"));
  const v1 = JSON.stringify(variant("V1"));
  // publishing v2.0 copied its DSL into the working row's release_data and wrote release_status 1 to the whole group
  await conn.query(flow, [
    GROUP,
    GROUP,
    FLOW_NAME,
    draft,
    V2_DSL,
    "描述",
    "-1",
    1,
    1,
    0,
    "2025-04-01 12:00:00",
    "2025-05-01 12:00:00",
  ]);
  await conn.query(flow, [
    V1,
    GROUP,
    FLOW_NAME,
    v1,
    v1,
    "",
    "v1.0",
    1,
    1,
    0,
    "2025-04-02 12:00:00",
    "2025-04-02 12:00:00",
  ]);
  await conn.query(flow, [
    V2,
    GROUP,
    FLOW_NAME,
    V2_DSL,
    V2_DSL,
    "",
    "v2.0",
    1,
    1,
    0,
    "2025-05-01 12:00:00",
    "2025-05-01 12:00:00",
  ]);
  await conn.query(flow, [
    COMPARISON,
    GROUP,
    FLOW_NAME,
    JSON.stringify(variant("CMP")),
    JSON.stringify(variant("CMP")),
    "",
    "cmp-8f2a",
    1,
    1,
    1,
    "2025-05-02 12:00:00",
    "2025-05-02 12:00:00",
  ]);
  const bad = JSON.stringify(broken());
  await conn.query(flow, [
    BROKEN,
    BROKEN,
    "坏的流程",
    bad,
    bad,
    "",
    "-1",
    1,
    1,
    0,
    "2025-06-01 12:00:00",
    "2025-06-01 12:00:00",
  ]);
  await conn.query(
    `INSERT INTO license (app_id, group_id, status) VALUES (102, ?, 1), (102, ?, 1), (103, ?, 0), (999, ?, 1)`,
    [GROUP, BROKEN, GROUP, GROUP],
  );

  persist = mkdtempSync(join(tmpdir(), "import-d1-"));
  execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
    cwd: root,
    env: devEnv,
    stdio: "pipe",
  });
}, 60_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await conn?.end();
  await db?.stop();
  if (persist) rmSync(persist, { recursive: true, force: true });
});

/** `npm run import` (the package script) or the script itself, into the test's local D1 state: what it prints. */
function runImport(via: "npm" | "node", json = true): string {
  const args = ["--from", db.url, "--persist-to", persist, ...(json ? ["--json"] : [])];
  return via === "npm"
    ? execFileSync("npm", ["run", "--silent", "import", "--", ...args], { cwd: root, env: devEnv, encoding: "utf8" })
    : execFileSync("node", ["scripts/import.mjs", ...args], { cwd: root, env: devEnv, encoding: "utf8" });
}

const summary = (via: "npm" | "node"): Summary => JSON.parse(runImport(via)) as Summary;

/** The rows of each statement, read from the local D1 in one wrangler call (each call costs about a second). */
function d1(...statements: string[]): Record<string, unknown>[][] {
  const out = execFileSync(
    "wrangler",
    ["d1", "execute", "DB", "--local", "--persist-to", persist, "--json", "--command", statements.join(";\n")],
    { cwd: root, env: devEnv, encoding: "utf8" },
  );
  return (JSON.parse(out) as { results: Record<string, unknown>[] }[]).map((r) => r.results);
}

describe("npm run import", () => {
  it("copies apps, every flow row and licences, and reports the DSL that does not compile", () => {
    const s = summary("npm");
    expect(s.apps).toEqual({ imported: 3, updated: 0, unchanged: 0 });
    expect(s.appSources).toEqual({ imported: 3, updated: 0, unchanged: 0 });
    expect(s.flows).toEqual({ imported: 5, updated: 0, unchanged: 0, working: 2, versions: 2, comparisons: 1 });
    expect(s.licences).toEqual({ imported: 3, updated: 0, unchanged: 0 });
    expect(s.conflicts).toEqual([]);
    // the licence of an app that is not in the app table is named, not lost without a word
    expect(s.skippedLicences).toEqual([{ app_id: "999", group_id: GROUP }]);

    const released = s.doesNotCompile.find((b) => b.id === BROKEN && b.column === "release_data");
    expect(released).toMatchObject({ code: 22101, action: "imported as a draft" });
    expect(released?.message).toContain("if-else::22222222-2222-4222-8222-222222222222");
    expect(released?.message).toContain("nodeParam.cases");
    expect(s.doesNotCompile.find((b) => b.id === BROKEN && b.column === "data")?.code).toBe(22101);
    expect(s.doesNotCompile.filter((b) => b.id !== BROKEN)).toEqual([]);

    const [flows = [], v2 = [], app = [], licences = []] = d1(
      "SELECT id, group_id, name, version, status, release_status, tag, app_id, create_at FROM flow ORDER BY id",
      `SELECT release_data FROM flow WHERE id = '${V2}'`,
      "SELECT name FROM app WHERE alias_id = 'app00001'",
      "SELECT a.alias_id AS app, l.group_id AS grp, l.status AS status FROM license l JOIN app a ON a.id = l.app_id ORDER BY a.alias_id, l.group_id",
    );
    expect(flows.map((f) => [f.id, f.version, f.status, f.release_status, f.tag])).toEqual([
      [GROUP, "-1", 1, 1, 0],
      [V1, "v1.0", 1, 1, 0],
      [V2, "v2.0", 1, 1, 0],
      [COMPARISON, "cmp-8f2a", 1, 1, 1],
      // the broken flow is there, as a draft
      [BROKEN, "-1", 0, 0, 0],
    ]);
    expect(flows[0]).toMatchObject({ name: FLOW_NAME, group_id: GROUP, create_at: "2025-04-01T12:00:00.000Z" });
    // byte for byte, although it went in as several appended pieces
    expect(v2[0]?.release_data).toBe(V2_DSL);
    expect(app[0]?.name).toBe(APP_NAME);
    // MySQL's app ids (102, 103) are not D1's: the licences followed the apps by alias
    expect(licences).toEqual([
      { app: "app00001", grp: GROUP, status: 1 },
      { app: "app00001", grp: BROKEN, status: 1 },
      { app: "app00002", grp: GROUP, status: 0 },
    ]);
  }, 60_000);

  it("a second run changes nothing, and a run after a change in MySQL updates only that row", async () => {
    // the summary as an operator reads it
    const again = runImport("node", false).split("\n");
    expect(again[0]).toBe(`import: mysql://astron:***@127.0.0.1:${db.port}/workflow → D1 (local)`);
    expect(again).toContain("  apps         0 imported, 0 updated, 3 unchanged");
    expect(again).toContain("  app sources  0 imported, 0 updated, 3 unchanged");
    expect(again).toContain(
      "  flows        0 imported, 0 updated, 5 unchanged (2 working rows, 2 versions, 1 comparisons)",
    );
    expect(again).toContain("  licences     0 imported, 0 updated, 3 unchanged");
    expect(again).toContain("DSL that does not compile (2):");
    expect(again.find((l) => l.startsWith(`  flow ${BROKEN} "坏的流程" version -1, release_data: 22101 `))).toMatch(
      /if-else::22222222-2222-4222-8222-222222222222: nodeParam\.cases: .* → imported as a draft$/,
    );
    expect(again.join("\n")).not.toContain(db.password);

    await conn.query("UPDATE flow SET description = ? WHERE id = ?", ["新的描述", V1]);
    await conn.query("UPDATE app SET name = ? WHERE alias_id = 'tnt00001'", ["租户 2"]);
    const changed = summary("node");
    expect(changed.apps).toEqual({ imported: 0, updated: 1, unchanged: 2 });
    expect(changed.flows).toMatchObject({ imported: 0, updated: 1, unchanged: 4 });
    expect(changed.licences).toEqual({ imported: 0, updated: 0, unchanged: 3 });
    const [[counts], [v1]] = d1(
      "SELECT (SELECT COUNT(*) FROM flow) AS flows, (SELECT COUNT(*) FROM app) AS apps, (SELECT COUNT(*) FROM license) AS licences",
      `SELECT description FROM flow WHERE id = '${V1}'`,
    );
    expect(counts).toEqual({ flows: 5, apps: 3, licences: 3 });
    expect(v1?.description).toBe("新的描述");
  }, 60_000);

  it("runs the imported flows through the API with the same frames as the flow saved through the API", async () => {
    const dev = await startDev({ persist, vars: () => [], stdio: ["ignore", "ignore", "ignore"] });
    child = dev.child;
    const post = (path: string, body: unknown, app: string): Promise<Response> =>
      fetch(`${dev.base}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Consumer-Username": app },
        body: JSON.stringify(body),
      });
    const frames = async (res: Response): Promise<Frame[]> => {
      const parser = new SseParser();
      const out: Frame[] = [];
      for await (const t of decodeStream(res.body as ReadableStream<Uint8Array>))
        for (const e of parser.push(t)) out.push(JSON.parse(e.data) as Frame);
      return out;
    };
    // what a client sees, without the per-run id and clock
    const seen = (fs: Frame[]): unknown[] => fs.map(({ id: _id, created: _created, ...rest }) => rest);
    const params = { AGENT_USER_INPUT: "edge", score: 75 };

    // the same DSL saved, published by the imported tenant and licensed through the API
    const add = (await (
      await post(
        "/workflow/v1/protocol/add",
        { app_id: "app00001", name: "saved", description: "", data: JSON.parse(V2_DSL) },
        "app00001",
      )
    ).json()) as { code: number; data: { flow_id: string } };
    expect(add.code).toBe(0);
    const saved = add.data.flow_id;
    const pub = (await (
      await post("/v1/publish", { flow_id: saved, release_status: 1, plat: 1 }, "tnt00001")
    ).json()) as { code: number };
    expect(pub.code).toBe(0);
    expect(
      ((await (await post("/v1/auth", { flow_id: saved, app_id: "app00001" }, "tnt00001")).json()) as { code: number })
        .code,
    ).toBe(0);

    const viaApi = await frames(
      await post("/workflow/v1/chat/completions", { flow_id: saved, parameters: params }, "app00001"),
    );
    const imported = await frames(
      await post("/workflow/v1/chat/completions", { flow_id: GROUP, parameters: params }, "app00001"),
    );
    expect(imported.map((f) => f.choices[0]?.delta.content).join("")).toBe('版本二: edge{"joined":""}');
    expect(seen(imported)).toEqual(seen(viaApi));

    // an older published version by its name; the draft through a debug run
    const v1 = (await (
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: GROUP, version: "v1.0", stream: false, parameters: params },
        "app00001",
      )
    ).json()) as Frame;
    expect(v1.choices[0]?.delta.content).toBe('V1: edge{"joined":""}');
    const debug = (await (
      await post(
        "/workflow/v1/debug/chat/completions",
        { flow_id: GROUP, stream: false, parameters: params },
        "app00001",
      )
    ).json()) as Frame;
    expect(debug.choices[0]?.delta.content).toBe('草稿: edge{"joined":""}');

    // the withdrawn licence and the flow imported as a draft answer with the spec's codes
    const withdrawn = (await (
      await post("/workflow/v1/chat/completions", { flow_id: GROUP, parameters: params }, "app00002")
    ).json()) as { code: number };
    expect(withdrawn.code).toBe(20005);
    const draft = (await (
      await post("/workflow/v1/chat/completions", { flow_id: BROKEN, parameters: params }, "app00001")
    ).json()) as { code: number };
    expect(draft.code).toBe(20204);

    const got = (await (await post("/workflow/v1/protocol/get", { flow_id: GROUP }, "app00001")).json()) as {
      code: number;
      data: { name: string; id: string };
    };
    expect(got.data).toMatchObject({ id: GROUP, name: FLOW_NAME });
  }, 60_000);
});
