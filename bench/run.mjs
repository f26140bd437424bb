// `npm run bench [-- engine|http|cache|flow-cache|llm|code|database|database-pool|relay|hostile|otel|startup|overload|memory|peers]`:
// runs the named benchmarks (all but the heavy ones — startup, overload, memory, peers — by default) and prints JSON lines.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const which = process.argv.slice(2);
const all = {
  engine: "bench/engine.bench.ts",
  cache: "bench/cache.bench.ts",
  "flow-cache": "bench/flow-cache.bench.ts",
  http: "bench/http.bench.mjs",
  llm: "bench/llm.bench.mjs",
  code: "bench/code.bench.ts",
  database: "bench/database.bench.ts",
  "database-pool": "bench/database-pool.bench.mjs",
  relay: "bench/relay.bench.ts",
  hostile: "bench/hostile.bench.mjs",
  otel: "bench/otel.bench.mjs",
  peers: "bench/peers/run.mjs",
  startup: "bench/startup.bench.mjs",
  overload: "bench/overload.bench.mjs",
  memory: "bench/memory.bench.mjs",
};
// only when named: peers needs bench/peers/setup.sh; startup, overload and memory start several runtimes and take
// the machine for minutes
const heavy = new Set(["peers", "startup", "overload", "memory"]);
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` };
let failed = false;
for (const [name, file] of Object.entries(all)) {
  if (which.length ? !which.includes(name) : heavy.has(name)) continue;
  console.log(`── ${name}`);
  const r = spawnSync("node", ["--expose-gc", file], { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
