// Loads the example flows into the local D1 database of `wrangler dev`: a tenant app, a demo app (key:secret
// demo-key:demo-secret), and the two example flows of examples/, published and licensed to it.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const examples = join(root, "examples");
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;

// the apps live in scripts/seed.sql (loadable on its own with `wrangler d1 execute DB --local --file=…`)
const sql = [readFileSync(join(root, "scripts", "seed.sql"), "utf8")];
for (const file of ["example-core-start-llm-end.json", "example-core-if-else-branch.json"]) {
  const flow = JSON.parse(readFileSync(join(examples, file), "utf8"));
  const data = JSON.stringify(flow);
  sql.push(
    `INSERT OR REPLACE INTO flow (id, group_id, name, data, release_data, description, version, status, release_status, app_id, source, tag) VALUES (${q(flow.id)}, ${q(flow.id)}, ${q(flow.name)}, ${q(data)}, ${q(data)}, ${q(flow.description)}, '-1', 1, 1, 'd1590f30', 1, 0);`,
    `INSERT OR IGNORE INTO license (app_id, group_id, status) SELECT id, ${q(flow.id)}, 1 FROM app WHERE alias_id = 'd1590f30';`,
  );
}
const dir = join(root, ".tmp");
mkdirSync(dir, { recursive: true });
const file = join(dir, "seed.sql");
writeFileSync(file, sql.join("\n") + "\n");
const r = spawnSync("wrangler", ["d1", "execute", "DB", "--local", `--file=${file}`], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"],
  env: process.env,
});
if (r.status !== 0) process.exit(r.status ?? 1);
console.log("seed: tenant01, d1590f30 and 2 example flows loaded into the local D1");
