// The database pool under load inside workerd (issue 13): LOAD runs at concurrency 20, each its own RunObject, all
// sharing one SqlPool object (DATABASE_POOL_MAX 4), with pg_stat_activity sampled while they run. It is the pool test
// of test/worker/database.test.ts with DATABASE_POOL_RUNS=1000 (the suite runs 200, to stay quick on a shared
// machine). Run: `npm run bench -- database-pool`. Prints one JSON line.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const LOAD = 1000;
const root = join(import.meta.dirname, "..");
const r = spawnSync(
  join(root, "node_modules", ".bin", "vitest"),
  ["run", "--project", "workers", "test/worker/database.test.ts", "-t", "each its own RunObject"],
  {
    cwd: root,
    // Node 22 of node_modules/.bin, as npm scripts have it (wrangler's vitest plugin needs it)
    env: {
      ...process.env,
      PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}`,
      DATABASE_POOL_RUNS: String(LOAD),
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
    },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 10 * 60_000,
  },
);
const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
const m = /pool: (\d+) runs at c=(\d+) in (\d+) ms; connections peak (\d+) \(ceiling (\d+)\)/.exec(out);
if (r.status !== 0 || !m) {
  console.error(out.slice(-4000));
  process.exit(1);
}
console.log(
  JSON.stringify({
    bench: "database-pool-workerd",
    runs: Number(m[1]),
    concurrency: Number(m[2]),
    ms: Number(m[3]),
    peak_connections: Number(m[4]),
    ceiling: Number(m[5]),
    failed_runs: 0,
  }),
);
