// Imports an Astron installation's MySQL database (spec §3: `app`, `app_source`, `license`, `flow` with its drafts,
// published versions and comparison rows) into this runtime's D1, local or deployed:
//
//   npm run import -- --from mysql://user:pass@host:3306/workflow [--remote] [--persist-to DIR] [--timezone +08:00]
//                     [--dry-run] [--json]
//
// Idempotent: the current D1 rows are read first and only new or different rows are written, as upserts on each
// table's natural key (flow id, app alias, licence (app, group), source), so a second run changes nothing and counts
// every row as unchanged. Every DSL is compiled with this runtime's engine; a published row whose DSL does not compile
// is imported as a draft (status 0, release bits cleared, both DSL columns kept as they are) and reported with the
// node and field, never dropped. Conversation memory (`workflow_node_history`) is not copied.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// D1 refuses statements over 100 KB (locally too: SQLITE_TOOBIG); a DSL can be larger, so a flow's long values are
// written in pieces appended with `||`. 25,000 UTF-16 units stay under 100 KB even when every unit is a 3-byte
// character or a doubled quote; the values a flow's upsert carries inline stay within STATEMENT_BYTES together.
const CHUNK_UNITS = 25_000;
const STATEMENT_BYTES = 80_000;
// ids per `IN (…)` list when reading the current D1 rows (keeps each statement far below the same limit), and SQL
// bytes per wrangler call
const READ_BATCH = 200;
const COMMAND_BYTES = 90_000;
// mysql2: how long to wait for the server before giving up
const CONNECT_TIMEOUT_MS = 15_000;
// release bits that list a row for open runs (spec §9.2: Xingchen 1, Open platform 4), as src/worker/store/catalog.ts
const LISTED_BITS = 1 | 4;

const usage = `usage: npm run import -- --from mysql://user:pass@host:3306/workflow [--remote] [--persist-to DIR]
       [--timezone Z|+08:00] [--dry-run] [--json]`;

function fail(message) {
  console.error(`import: ${message}`);
  process.exit(1);
}

// the engine is TypeScript: Node ≥ 22.18 runs it by stripping types (npm scripts use the project's Node 22)
if (!process.features.typescript) fail(`needs Node ≥ 22.18 (this is ${process.version}); run it as \`npm run import\``);
const { compile } = await import("../src/engine/compile.ts");
const { registry } = await import("../src/plugins/index.ts");
const { Codes } = await import("../src/engine/codes.ts");

let args;
try {
  args = parseArgs({
    options: {
      from: { type: "string" },
      remote: { type: "boolean", default: false },
      "persist-to": { type: "string" },
      timezone: { type: "string", default: "Z" },
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(`${e.message}\n${usage}`);
}
if (!args.from) fail(`--from is required\n${usage}`);
if (args.remote && args["persist-to"]) fail("--persist-to is for the local database only");
if (!/^(Z|local|[+-]\d\d:\d\d)$/.test(args.timezone)) fail("--timezone is Z, local or ±HH:MM");

/** The source URL without its password, for messages. */
function safeUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

// ---- reading MySQL --------------------------------------------------------------------------------------------------

async function readSource(url) {
  const mysql = (await import("mysql2/promise")).default;
  let conn;
  try {
    conn = await mysql.createConnection({
      uri: url,
      // 64-bit snowflake ids stay exact: strings, never JavaScript numbers
      supportBigNumbers: true,
      bigNumberStrings: true,
      // a MySQL JSON column comes back as its text, so the DSL is copied byte for byte
      jsonStrings: true,
      // DATETIME has no zone: the original's are in the server's local time (--timezone says which)
      timezone: args.timezone,
      charset: "utf8mb4",
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
  } catch (e) {
    fail(`cannot connect to ${safeUrl(url)}: ${e.code ?? e.message}`);
  }
  try {
    const [apps] = await conn.query("SELECT * FROM app ORDER BY id");
    const [sources] = await conn.query("SELECT * FROM app_source ORDER BY source");
    const [licences] = await conn.query(
      "SELECT l.*, a.alias_id AS app_alias FROM license l LEFT JOIN app a ON a.id = l.app_id ORDER BY l.id",
    );
    const [flows] = await conn.query("SELECT * FROM flow ORDER BY group_id, id");
    return { apps, sources, licences, flows };
  } catch (e) {
    fail(`reading ${safeUrl(url)}: ${e.sqlMessage ?? e.message}`);
  } finally {
    await conn.end();
  }
}

// ---- the rows D1 gets -----------------------------------------------------------------------------------------------

const str = (v) => (v === null || v === undefined ? "" : String(v));
const int = (v, d = 0) => (v === null || v === undefined || v === "" ? d : Number(v));
const text = (v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

/** A DATETIME as D1's timestamps are written (strftime('%Y-%m-%dT%H:%M:%fZ')); a zero or missing date is the epoch. */
function stamp(v) {
  const d = v instanceof Date ? v : new Date(str(v));
  return Number.isNaN(d.getTime()) ? "1970-01-01T00:00:00.000Z" : d.toISOString();
}

const APP_COLUMNS = [
  "name",
  "alias_id",
  "api_key",
  "api_secret",
  "description",
  "is_tenant",
  "source",
  "actual_source",
  "plat_release_auth",
  "status",
  "audit_policy",
  "create_at",
  "update_at",
];

function appRow(a) {
  return {
    name: str(a.name),
    alias_id: str(a.alias_id),
    api_key: str(a.api_key),
    api_secret: str(a.api_secret),
    description: str(a.description),
    is_tenant: int(a.is_tenant),
    source: int(a.source, 1),
    actual_source: int(a.actual_source ?? a.source, 1),
    plat_release_auth: int(a.plat_release_auth),
    status: int(a.status, 1),
    audit_policy: int(a.audit_policy),
    create_at: stamp(a.create_at),
    update_at: stamp(a.update_at),
  };
}

const SOURCE_COLUMNS = ["source", "source_id", "description"];
const sourceRow = (s) => ({ source: int(s.source), source_id: str(s.source_id), description: str(s.description) });

const FLOW_COLUMNS = [
  "id",
  "group_id",
  "name",
  "data",
  "release_data",
  "description",
  "version",
  "status",
  "release_status",
  "app_id",
  "source",
  "tag",
  "create_by",
  "update_by",
  "create_at",
  "update_at",
];

function flowRow(f) {
  return {
    id: str(f.id),
    group_id: str(f.group_id),
    name: str(f.name),
    data: text(f.data),
    release_data: text(f.release_data),
    description: str(f.description),
    version: str(f.version ?? "-1"),
    status: int(f.status),
    release_status: int(f.release_status),
    app_id: str(f.app_id),
    source: int(f.source),
    tag: int(f.tag),
    create_by: str(f.create_by),
    update_by: str(f.update_by),
    create_at: stamp(f.create_at),
    update_at: stamp(f.update_at),
  };
}

// ---- compile check --------------------------------------------------------------------------------------------------

/** The engine's verdict on a DSL column: undefined when it compiles, else `{code, message}` naming node and field. */
function check(dslText, column) {
  if (dslText === null || dslText.trim() === "")
    return { code: Codes.ENG_PROTOCOL_VALIDATE_ERROR, message: `${column} is empty` };
  let dsl;
  try {
    dsl = JSON.parse(dslText);
  } catch {
    return { code: Codes.ENG_PROTOCOL_VALIDATE_ERROR, message: `${column} is not JSON` };
  }
  try {
    compile(dsl, registry);
    return undefined;
  } catch (e) {
    return { code: typeof e.code === "number" ? e.code : Codes.ENG_BUILD_ERROR, message: String(e.message) };
  }
}

/**
 * Compiles what each row can run: `release_data` when the row is listed for open runs, `data` when there is a draft.
 * A listed row whose `release_data` fails becomes a draft (status 0, no release bits): an open run then answers
 * 20204 "not published" instead of failing at run time, and the group's other published versions still serve.
 */
function checkFlows(rows) {
  const broken = [];
  for (const row of rows) {
    const listed = (row.release_status & LISTED_BITS) !== 0;
    const entry = (column, verdict, action) =>
      broken.push({
        id: row.id,
        group_id: row.group_id,
        name: row.name,
        version: row.version,
        column,
        ...verdict,
        action,
      });
    if (listed) {
      const verdict = check(row.release_data, "release_data");
      if (verdict) {
        entry("release_data", verdict, "imported as a draft");
        row.status = 0;
        row.release_status = 0;
      }
    }
    if (row.data !== null && row.data.trim() !== "") {
      const verdict = check(row.data, "data");
      if (verdict) entry("data", verdict, "draft imported as it is");
    }
  }
  return broken;
}

// ---- D1 through wrangler --------------------------------------------------------------------------------------------

const wranglerBin = existsSync(join(root, "node_modules", ".bin", "wrangler"))
  ? join(root, "node_modules", ".bin", "wrangler")
  : "wrangler";
const target = args.remote
  ? ["--remote"]
  : ["--local", ...(args["persist-to"] ? ["--persist-to", args["persist-to"]] : [])];

function wrangler(extra) {
  const r = spawnSync(wranglerBin, ["d1", "execute", "DB", ...target, "--json", ...extra], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    encoding: "utf8",
    maxBuffer: 1024 * 1024 * 1024,
  });
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    fail(`wrangler d1 execute failed: ${(r.stderr || r.stdout || r.error?.message || "").trim().slice(-2000)}`);
  }
  if (r.status !== 0 || !Array.isArray(out)) fail(`wrangler d1 execute failed: ${out?.error?.text ?? r.stderr}`);
  return out;
}

/**
 * Rows of each SELECT, in order. Statements share wrangler calls (one call costs a second or more) up to
 * COMMAND_BYTES of SQL per call.
 */
function selectAll(statements) {
  const results = [];
  for (let i = 0; i < statements.length;) {
    let bytes = 0;
    let j = i;
    while (j < statements.length && (j === i || bytes + Buffer.byteLength(statements[j]) < COMMAND_BYTES))
      bytes += Buffer.byteLength(statements[j++]) + 1;
    const out = wrangler(["--command", statements.slice(i, j).join(";\n")]);
    for (let k = i; k < j; k++) results.push(out[k - i]?.results ?? []);
    i = j;
  }
  return results;
}

/** A SQLite literal. Text with a NUL byte (which a SQL file cannot carry) goes in as hex. */
function lit(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") return String(v);
  const s = String(v);
  if (s.includes("\0")) return `CAST(X'${Buffer.from(s, "utf8").toString("hex")}' AS TEXT)`;
  return `'${s.replaceAll("'", "''")}'`;
}

/** One SELECT per READ_BATCH values, each `template(list)` with the quoted values in `list`. */
function inBatches(values, template) {
  const out = [];
  for (let i = 0; i < values.length; i += READ_BATCH)
    out.push(
      template(
        values
          .slice(i, i + READ_BATCH)
          .map(lit)
          .join(", "),
      ),
    );
  return out;
}

/** The D1 rows the import could touch, read in as few wrangler calls as the statements fit in. */
function currentState(flows, apps, groups) {
  const queries = {
    apps: inBatches(
      apps.map((a) => a.alias_id),
      (list) => `SELECT * FROM app WHERE alias_id IN (${list})`,
    ),
    sources: ["SELECT * FROM app_source"],
    flows: inBatches(
      flows.map((f) => f.id),
      (list) => `SELECT * FROM flow WHERE id IN (${list})`,
    ),
    // rows of the same groups, to find a (group, version) already held by a row the runtime made itself
    groupRows: inBatches(groups, (list) => `SELECT id, group_id, version FROM flow WHERE group_id IN (${list})`),
    licences: inBatches(
      groups,
      (list) =>
        `SELECT a.alias_id AS app_alias, l.group_id AS group_id, l.status AS status, l.create_at AS create_at FROM license l JOIN app a ON a.id = l.app_id WHERE l.group_id IN (${list})`,
    ),
  };
  const names = Object.keys(queries);
  const results = selectAll(names.flatMap((n) => queries[n]));
  const rows = {};
  for (const n of names) rows[n] = results.splice(0, queries[n].length).flat();
  return {
    apps: new Map(rows.apps.map((a) => [a.alias_id, a])),
    sources: new Map(rows.sources.map((s) => [Number(s.source), s])),
    flows: new Map(rows.flows.map((f) => [String(f.id), f])),
    groupRows: rows.groupRows,
    licences: new Map(rows.licences.map((l) => [`${l.app_alias}\n${l.group_id}`, l])),
  };
}

const same = (row, current, columns) => current !== undefined && columns.every((c) => str(current[c]) === str(row[c]));

// ---- the SQL file ---------------------------------------------------------------------------------------------------

/** Splits a long value into a first part and appended parts (never inside a surrogate pair). */
function pieces(s) {
  if (s === null || s.length <= CHUNK_UNITS) return [s];
  const out = [];
  for (let i = 0; i < s.length;) {
    let end = Math.min(i + CHUNK_UNITS, s.length);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(s.slice(i, end));
    i = end;
  }
  return out;
}

function upsert(table, row, columns, key) {
  const updates = columns.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => lit(row[c])).join(", ")}) ON CONFLICT (${key.join(", ")}) DO UPDATE SET ${updates.join(", ")};`;
}

/**
 * The upsert of a flow row, then the pieces of its long values. The upsert carries the long columns as '' when the
 * row's values together would not fit in one statement (STATEMENT_BYTES), and each piece is appended by its own
 * UPDATE, so no statement comes near D1's limit whatever the DSL's size.
 */
function flowStatements(row) {
  const first = { ...row };
  const appended = [];
  let budget = STATEMENT_BYTES;
  for (const column of ["data", "release_data", "description"]) {
    const value = row[column];
    const bytes = value === null ? 0 : Buffer.byteLength(lit(value));
    if (bytes <= budget) {
      budget -= bytes;
      continue;
    }
    first[column] = "";
    for (const part of pieces(value))
      appended.push(`UPDATE flow SET ${column} = ${column} || ${lit(part)} WHERE id = ${lit(row.id)};`);
  }
  return [upsert("flow", first, FLOW_COLUMNS, ["id"]), ...appended];
}

function licenceStatement(l) {
  // license.app_id is the numeric id of the app in D1, which need not be the one it had in MySQL: found by alias
  return `INSERT INTO license (app_id, group_id, status, create_at) SELECT id, ${lit(l.group_id)}, ${l.status}, ${lit(l.create_at)} FROM app WHERE alias_id = ${lit(l.app_alias)} ON CONFLICT (app_id, group_id) DO UPDATE SET status = excluded.status, create_at = excluded.create_at;`;
}

// ---- main -----------------------------------------------------------------------------------------------------------

const source = await readSource(args.from);
const apps = source.apps.map(appRow);
const sources = source.sources.map(sourceRow);
const flows = source.flows.map(flowRow);
const broken = checkFlows(flows);
const groups = [...new Set(flows.map((f) => f.group_id))];
const orphanLicences = [];
const licences = [];
for (const l of source.licences) {
  const row = {
    app_alias: str(l.app_alias),
    group_id: str(l.group_id),
    status: int(l.status, 1),
    create_at: stamp(l.create_at),
  };
  if (l.app_alias === null || l.app_alias === undefined)
    orphanLicences.push({ app_id: str(l.app_id), group_id: row.group_id });
  else licences.push(row);
}
const licenceGroups = [...new Set([...groups, ...licences.map((l) => l.group_id)])];
const now = currentState(flows, apps, licenceGroups);

const counts = (n = {}) => ({ imported: 0, updated: 0, unchanged: 0, ...n });
const summary = {
  from: safeUrl(args.from),
  to: args.remote ? "remote" : "local",
  dryRun: args["dry-run"],
  apps: counts(),
  appSources: counts(),
  flows: counts({ working: 0, versions: 0, comparisons: 0 }),
  licences: counts(),
  doesNotCompile: broken,
  conflicts: [],
  skippedLicences: orphanLicences,
};
const sql = [];
const tally = (bucket, current, equal) =>
  current === undefined ? bucket.imported++ : equal ? bucket.unchanged++ : bucket.updated++;

for (const a of apps) {
  const current = now.apps.get(a.alias_id);
  const equal = same(a, current, APP_COLUMNS);
  tally(summary.apps, current, equal);
  if (!equal) sql.push(upsert("app", a, APP_COLUMNS, ["alias_id"]));
}
for (const s of sources) {
  const current = now.sources.get(s.source);
  const equal = same(s, current, SOURCE_COLUMNS);
  tally(summary.appSources, current, equal);
  if (!equal) sql.push(upsert("app_source", s, SOURCE_COLUMNS, ["source"]));
}
const heldBy = new Map(now.groupRows.map((r) => [`${r.group_id}\n${r.version}`, String(r.id)]));
for (const f of flows) {
  // a (group, version) the runtime gave to a row of its own (a version published or a comparison saved here after an
  // earlier import) is kept: overwriting it would replace what was done here, inserting would break the unique key
  const holder = heldBy.get(`${f.group_id}\n${f.version}`);
  if (holder !== undefined && holder !== f.id) {
    summary.conflicts.push({ id: f.id, group_id: f.group_id, version: f.version, heldBy: holder });
    continue;
  }
  const current = now.flows.get(f.id);
  const equal = same(f, current, FLOW_COLUMNS);
  tally(summary.flows, current, equal);
  if (f.tag === 1) summary.flows.comparisons++;
  else if (f.version === "-1") summary.flows.working++;
  else summary.flows.versions++;
  if (!equal) sql.push(...flowStatements(f));
}
for (const l of licences) {
  const current = now.licences.get(`${l.app_alias}\n${l.group_id}`);
  const equal = same(l, current, ["status", "create_at"]);
  tally(summary.licences, current, equal);
  if (!equal) sql.push(licenceStatement(l));
}

if (sql.length > 0 && !args["dry-run"]) {
  const dir = mkdtempSync(join(tmpdir(), "astron-import-"));
  const file = join(dir, "import.sql");
  writeFileSync(file, sql.join("\n") + "\n");
  try {
    wrangler(["--file", file, ...(args.remote ? ["--yes"] : [])]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const line = (label, c) =>
    `  ${label.padEnd(12)} ${c.imported} imported, ${c.updated} updated, ${c.unchanged} unchanged`;
  console.log(`import: ${summary.from} → D1 (${summary.to})${summary.dryRun ? ", dry run: nothing written" : ""}`);
  console.log(line("apps", summary.apps));
  console.log(line("app sources", summary.appSources));
  console.log(
    `${line("flows", summary.flows)} (${summary.flows.working} working rows, ${summary.flows.versions} versions, ${summary.flows.comparisons} comparisons)`,
  );
  console.log(line("licences", summary.licences));
  if (broken.length > 0) {
    console.log(`DSL that does not compile (${broken.length}):`);
    for (const b of broken)
      console.log(`  flow ${b.id} "${b.name}" version ${b.version}, ${b.column}: ${b.code} ${b.message} → ${b.action}`);
  }
  for (const c of summary.conflicts)
    console.log(
      `  not imported: flow ${c.id} (group ${c.group_id} version ${c.version}) — D1 row ${c.heldBy} holds it`,
    );
  for (const l of orphanLicences)
    console.log(`  not imported: licence of group ${l.group_id} for app ${l.app_id}, which is not in the app table`);
}
