// The test command (`npm test`): system packages, fixtures, typecheck, vitest (Node and workerd projects), the
// engine suite on Deno; prints `N passed, N failed[, N skipped]` as its last line and exits non-zero on failure.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const env = {
  ...process.env,
  PATH: `${bin}:${process.env.PATH ?? ""}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
};
const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];

function run(label, cmd, args, opts = {}) {
  console.log(`\n── ${label}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: opts.capture ? ["ignore", "pipe", "inherit"] : "inherit", encoding: "utf8", timeout: opts.timeoutMs ?? 20 * 60_000 });
  if (opts.capture && r.stdout) process.stdout.write(r.stdout);
  return r;
}

// 1. system packages and fixtures
if (run("setup", "bash", ["scripts/setup-system.sh"]).status !== 0) problems.push("setup-system failed");
if (run("fixtures", "node", ["scripts/gen-fixtures.mjs"]).status !== 0) problems.push("fixture generation failed");

// 2. typecheck: one test that passes or fails
const tc = run("typecheck", "node", ["scripts/typecheck.mjs"]);
if (tc.status === 0) totals.passed++;
else {
  totals.failed++;
  problems.push("typecheck failed");
}

// 3. vitest, both projects, with a JSON report to count
const outDir = join(root, ".tmp");
mkdirSync(outDir, { recursive: true });
const report = join(outDir, "vitest.json");
rmSync(report, { force: true });
const vt = run("vitest", "vitest", ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`]);
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, "utf8"));
  totals.passed += r.numPassedTests ?? 0;
  totals.failed += r.numFailedTests ?? 0;
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (vt.status !== 0 && (r.numFailedTests ?? 0) === 0) {
    totals.failed++;
    problems.push(`vitest exited ${vt.status} (suite errors outside tests)`);
  }
} else {
  totals.failed++;
  problems.push("vitest produced no report");
}

// 4. the engine suite on Deno
const deno = run("deno", "deno", ["test", "--allow-read", "--allow-env", "--no-check", "test/engine/"], { capture: true });
const m = /(\d+) passed[^\d]+(\d+) failed(?:[^\d]+(\d+) ignored)?/.exec((deno.stdout ?? "").replace(/\x1b\[[0-9;]*m/g, ""));
if (m) {
  totals.passed += Number(m[1]);
  totals.failed += Number(m[2]);
  totals.skipped += Number(m[3] ?? 0);
} else {
  totals.failed++;
  problems.push("deno test printed no summary");
}

if (problems.length) console.log(`\nproblems: ${problems.join("; ")}`);
const summary = `${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`;
console.log(`\n${summary}`);
process.exit(totals.failed > 0 || problems.length > 0 ? 1 : 0);
